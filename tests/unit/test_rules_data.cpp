// The shipped rule files (fingerprinter/data/rules/*.toml), table-driven.
//
// Each case is a raw fact as a parser emits it, with values taken from the
// shared captures (../shared/pcaps/MANIFEST.tsv ground truth, checked with
// tshark) or from the parsers' own tests where the capture has none, and
// the derived facts expected to WIN for each field (the highest-confidence
// value). "!field" means no rule may set that field for this fact.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/fp/rules.h"

namespace {

using tapsense::fp::derived_fact;
using tapsense::fp::rule_set;

const std::string rules_dir = std::string(TAPSENSE_SOURCE_DIR) + "/fingerprinter/data/rules";

const rule_set& shipped() {
  static const rule_set s = rule_set::load_dir(rules_dir);
  return s;
}

// The shipped rules applied to a fact named in text: every name a case uses
// must be in the facts' vocabulary (a parser states it).
void apply_named(std::string_view source, std::string_view field, std::string_view value,
                 std::vector<derived_fact>& out) {
  const auto src = tapsense::proto::source_name::find(source);
  const auto fld = tapsense::proto::field_name::find(field);
  ASSERT_TRUE(src.has_value()) << "no source '" << source << "' in common/proto/names.h";
  ASSERT_TRUE(fld.has_value()) << "no field '" << field << "' in common/proto/names.h";
  shipped().apply(*src, *fld, value, out);
}

struct fact_case {
  const char* source;
  const char* field;
  const char* value;
  std::vector<std::string> expect;  // "field=value" winners, "!field" absent
};

// clang-format off
const std::vector<fact_case> cases = {
  // ---- os_http.toml: User-Agents ----
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/97.0.4692.99 Safari/537.36",
   {"os_family=Windows", "os_name=Windows 10 or 11", "os_version=10.0", "device_type=computer"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.22 (KHTML, like Gecko) Chrome/25.0.1364.152 Safari/537.22",  // 1kxun.pcap
   {"os_family=Windows", "os_name=Windows 7", "os_version=6.1"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 5.1; rv:52.0) Gecko/20100101 Firefox/52.0",
   {"os_family=Windows", "os_name=Windows XP"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
   {"os_family=Windows", "device_type=game console", "vendor=Microsoft"}},
  {"http", "user_agent", "Microsoft-Delivery-Optimization/10.0",  // http-ua/windowsupdate_over_http.pcap
   {"os_family=Windows", "os_name=Windows 10 or 11"}},
  {"http", "user_agent", "Microsoft-CryptoAPI/6.1", {"os_family=Windows", "os_version=6.1"}},
  {"http", "user_agent", "Microsoft NCSI", {"os_family=Windows"}},
  {"http", "user_agent", "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.31", {"os_family=Windows"}},
  {"http", "user_agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Safari/605.1.15",
   {"os_family=macOS", "vendor=Apple", "device_type=computer", "!os_version", "!os_name"}},
  {"http", "user_agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36",
   {"os_family=macOS", "os_version=10.14", "os_name=macOS 10.14"}},
  {"http", "user_agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.13; rv:109.0) Gecko/20100101 Firefox/115.0",
   {"os_family=macOS", "os_version=10.13"}},
  {"http", "user_agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0",
   {"os_family=macOS", "!os_version"}},
  {"http", "user_agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1",
   {"os_family=iOS", "os_name=iOS 16", "os_version=16.5", "device_type=phone", "vendor=Apple"}},
  {"http", "user_agent", "Mozilla/5.0 (iPad; CPU OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
   {"os_family=iOS", "os_version=12.4", "device_type=tablet"}},
  {"http", "user_agent", "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
   {"os_family=iPadOS", "os_name=iPadOS 17", "os_version=17.1", "device_type=tablet"}},
  {"http", "user_agent", "CaptiveNetworkSupport-390.60.1 wispr",  // mdns/iphone.pcap
   {"vendor=Apple", "!os_family"}},
  {"http", "user_agent", "AppleCoreMedia/1.0.0.19J346 (Apple TV; U; CPU OS 15_0 like Mac OS X; en_us)",
   {"os_family=tvOS", "device_type=media device", "vendor=Apple"}},
  {"http", "user_agent", "Mozilla/5.0 (Linux; Android 11; sdk_gphone_x86 Build/RSR1.201013.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/83.0.4103.106 Mobile Safari/537.36",  // 1kxun.pcap
   {"os_family=Android", "os_name=Android 11", "os_version=11", "model=sdk_gphone_x86", "device_type=phone"}},
  {"http", "user_agent", "Dalvik/2.1.0 (Linux; U; Android 11; sdk_gphone_x86 Build/RSR1.201013.001)",  // 1kxun.pcap
   {"os_family=Android", "os_version=11", "model=sdk_gphone_x86", "!device_type"}},
  {"http", "user_agent", "Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; SM-T230 Build/KOT49H) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Safari/534.30",
   {"os_family=Android", "os_name=Android 4", "os_version=4.4.2", "model=SM-T230"}},
  {"http", "user_agent", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
   {"os_family=Android", "!os_version", "!os_name", "!model", "device_type=phone"}},
  {"http", "user_agent", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36",
   {"os_family=Android", "os_version=13", "device_type=tablet"}},
  {"http", "user_agent", "okhttp/3.10.0", {"os_family=Android"}},  // 1kxun.pcap
  {"http", "user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
   {"os_family=Linux", "device_type=computer"}},
  {"http", "user_agent", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
   {"os_family=Linux", "os_name=Ubuntu"}},
  {"http", "user_agent", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
   {"os_family=ChromeOS"}},
  {"http", "user_agent", "Wget/1.21.3 (darwin21.3.0)", {"os_family=macOS"}},
  {"http", "user_agent", "Wget/1.21 (linux-gnu)", {"os_family=Linux"}},
  {"http", "user_agent", "curl/7.88.1", {"!os_family", "!device_type", "!vendor"}},
  {"http", "user_agent", "Apache-HttpClient/UNAVAILABLE (java 1.4)", {"!os_family"}},  // 1kxun.pcap
  {"http", "user_agent", "Magican (unknown version) CFNetwork/720.5.7 Darwin/14.5.0 (x86_64)", {"!os_family"}},  // 1kxun.pcap
  {"http", "user_agent", "Mozilla/5.0 (PlayStation 4 9.00) AppleWebKit/605.1.15 (KHTML, like Gecko)",
   {"os_family=PlayStation", "device_type=game console", "vendor=Sony"}},
  {"http", "user_agent", "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36",
   {"os_family=Tizen", "device_type=media device"}},
  {"ssdp", "user_agent", "Google Chrome/99.0.4844.74 Mac OS X", {"os_family=macOS"}},  // ssdp/ssdp-m-search-ua.pcap

  // ---- os_dhcp.toml ----
  {"dhcp", "vendor_class", "MSFT 5.0", {"os_family=Windows"}},  // 1kxun.pcap Joanna-PC
  {"dhcp", "parameter_request_list", "1,15,3,6,44,46,47,31,33,121,249,43,252", {"os_family=Windows"}},  // 1kxun.pcap
  {"dhcp", "parameter_request_list", "1,3,6,15,31,33,43,44,46,47,119,121,249,252",
   {"os_family=Windows", "os_name=Windows 10 or 11"}},
  {"dhcp", "parameter_request_list", "1,15,3,6,44,46,47,31,33,249,43", {"os_family=Windows", "os_name=Windows XP or Server 2003"}},
  {"dhcp", "vendor_class", "android-dhcp-11", {"os_family=Android", "os_name=Android 11", "os_version=11"}},
  {"dhcp", "vendor_class", "android-dhcp-7.1.2", {"os_family=Android", "os_name=Android 7", "os_version=7.1.2"}},
  {"dhcp", "vendor_class", "dhcpcd-5.5.6", {"os_family=Android"}},  // 1kxun.pcap android-f7ca0f571270c52d
  {"dhcp", "parameter_request_list", "1,33,3,6,15,28,51,58,59", {"os_family=Android"}},  // 1kxun.pcap
  {"dhcp", "parameter_request_list", "1,3,6,15,26,28,51,58,59,43", {"os_family=Android"}},
  {"dhcp", "parameter_request_list", "1,3,6,15,26,28,51,58,59,43,114", {"os_family=Android"}},
  {"dhcp", "vendor_class", "dhcpcd-6.11.5:Linux-4.1.18-v7+:armv7l:BCM2709",  // dhcp/dhcp-mud.pcap
   {"os_family=Linux", "os_version=4.1.18-v7+", "vendor=Raspberry Pi", "model=Raspberry Pi"}},
  {"dhcp", "parameter_request_list", "1,121,33,3,6,12,15,28,42,51,54,58,59,100,101,119", {"os_family=Linux"}},  // dhcp-mud.pcap
  {"dhcp", "vendor_class", "dhcpcd-9.4.1:NetBSD-9.3:amd64:x86_64", {"os_family=NetBSD", "os_version=9.3"}},
  {"dhcp", "vendor_class", "udhcp 1.24.1", {"os_family=Linux"}},
  {"dhcp", "vendor_class", "Hewlett-Packard JetDirect", {"device_type=printer", "vendor=HP"}},
  {"dhcp", "vendor_class", "Cisco Systems, Inc. IP Phone CP-7961G", {"device_type=phone", "vendor=Cisco", "model=CP-7961G"}},
  {"dhcp", "vendor_class", "AAPLBSDPC/i386/iMac11,3", {"os_family=macOS", "vendor=Apple", "model=iMac11,3"}},
  {"dhcp", "parameter_request_list", "1,121,3,6,15,119,252",  // mdns/iphone.pcap Lucas-iPhone
   {"os_family=iOS", "vendor=Apple"}},
  {"dhcp", "parameter_request_list", "1,121,3,6,15,119,252,95,44,46",  // mdns/iphone.pcap Lucas-iMac
   {"os_family=macOS", "vendor=Apple"}},
  {"dhcp", "parameter_request_list", "1,3,6,15,119,95,252,44,46", {"os_family=macOS", "vendor=Apple"}},  // 1kxun MacBook-Air
  {"dhcp", "parameter_request_list", "1,28,2,3,15,6,119,12,44,47,26,121,42", {"os_family=Linux"}},
  {"dhcp", "parameter_request_list", "1,3,6,15,44,33", {"!os_family", "!vendor"}},  // 1kxun MikroTik: no rule
  {"dhcp", "vendor_class", "MSFT 5.0 ", {"!os_family"}},  // equals is exact

  // ---- os_windows.toml ----
  {"ntlmssp", "ntlm_version", "10.0.19041",  // bench/smb3_multichannel.pcap
   {"os_family=Windows", "os_version=10.0.19041", "os_name=Windows 10 2004"}},
  {"ntlmssp", "ntlm_version", "6.1.7601",  // gre/erspan.pcap
   {"os_family=Windows", "os_version=6.1.7601", "os_name=Windows 7 SP1 or Server 2008 R2 SP1"}},
  {"ntlmssp", "ntlm_version", "5.1.2600", {"os_family=Windows", "os_name=Windows XP"}},
  {"ntlmssp", "ntlm_version", "10.0.17763", {"os_family=Windows", "os_name=Windows 10 1809 or Server 2019"}},
  {"ntlmssp", "ntlm_version", "10.0.20348", {"os_family=Windows", "os_name=Windows Server 2022", "device_type=server"}},
  {"ntlmssp", "ntlm_version", "10.0.22631", {"os_family=Windows", "os_name=Windows 11 23H2"}},
  {"ntlmssp", "ntlm_version", "10.0.26100", {"os_family=Windows", "os_name=Windows 11 24H2 or Server 2025"}},
  {"ntlmssp", "ntlm_version", "10.0.25398", {"os_family=Windows", "os_name=Windows Server 23H2", "device_type=server"}},
  {"ntlmssp", "ntlm_version", "10.0.19099", {"os_family=Windows", "os_name=Windows 10"}},
  {"ntlmssp", "ntlm_version", "10.0.27000", {"os_family=Windows", "os_name=Windows 11"}},
  {"ntlmssp", "ntlm_version", "6.1.0", {"!os_family", "!os_name"}},  // Samba
  {"smb", "native_os", "Windows 7 Ultimate 7601 Service Pack 1",  // smb-os/smbv1.pcap
   {"os_family=Windows", "os_name=Windows 7", "os_version=6.1.7601"}},
  {"smb", "native_os", "Windows 2000 2195", {"os_family=Windows", "os_name=Windows 2000", "os_version=5.0.2195"}},  // smbv1.pcap
  {"smb", "native_os", "Windows Server 2003 3790 Service Pack 2",
   {"os_family=Windows", "os_name=Windows Server 2003", "os_version=5.2.3790", "device_type=server"}},
  {"smb", "native_os", "Windows Server 2008 R2 Enterprise 7601 Service Pack 1",
   {"os_family=Windows", "os_name=Windows Server 2008 R2", "os_version=6.1.7601", "device_type=server"}},
  {"smb", "native_os", "Windows Server 2012 R2 Standard 9600",
   {"os_family=Windows", "os_name=Windows Server 2012 R2", "os_version=6.3.9600"}},
  {"smb", "native_os", "Windows 10 Enterprise 2016 LTSB 14393", {"os_family=Windows", "os_name=Windows 10", "os_version=10.0.14393"}},
  {"smb", "native_os", "Windows 6.1", {"!os_family"}},  // Samba 4
  {"smb", "native_os", "Unix", {"!os_family"}},
  {"smb", "native_lanman", "Samba 4.3.11-Ubuntu", {"os_family=Linux", "os_name=Ubuntu"}},
  {"browser", "windows_version", "6.1", {"os_family=Windows", "os_name=Windows 7 or Server 2008 R2"}},
  {"browser", "windows_version", "10.0", {"os_family=Windows"}},
  {"browser", "windows_version", "4.9", {"os_family=Linux"}},  // 1kxun.pcap SANJI-LIFEBOOK-L: Samba's default
  {"ssdp", "server", "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0",  // 1kxun.pcap
   {"os_family=Windows", "os_version=10.0", "os_name=Windows 10 or 11"}},
  {"ssdp", "server", "Microsoft-Windows-NT/5.1 UPnP/1.0 UPnP-Device-Host/1.0",
   {"os_family=Windows", "os_version=5.1", "os_name=Windows XP"}},
  {"http", "server", "Microsoft-IIS/7.5", {"os_family=Windows", "device_type=server", "os_name=Windows Server 2008 R2"}},
  {"http", "server", "Microsoft-HTTPAPI/2.0", {"os_family=Windows"}},

  // ---- os_apple.toml ----
  {"mdns", "model", "iMac11,3",  // mdns/iphone.pcap
   {"vendor=Apple", "model=iMac11,3", "device_type=computer", "os_family=macOS"}},
  {"mdns", "osxvers", "17", {"os_family=macOS", "os_name=macOS 10.13", "os_version=10.13"}},  // mdns/iphone.pcap
  {"mdns", "osxvers", "22", {"os_family=macOS", "os_name=macOS 13", "os_version=13"}},
  {"mdns", "osxvers", "25", {"os_family=macOS", "os_name=macOS 26", "os_version=26"}},
  {"mdns", "model", "MacBookPro18,3", {"device_type=computer", "model=MacBookPro18,3"}},
  {"mdns", "model", "Mac14,2", {"device_type=computer", "os_family=macOS"}},
  {"mdns", "txt:rpMd", "iPhone14,2", {"device_type=phone", "os_family=iOS", "model=iPhone14,2"}},
  {"mdns", "txt:rpMd", "iPad13,1", {"device_type=tablet", "os_family=iPadOS"}},
  {"mdns", "txt:am", "AppleTV6,2", {"device_type=media device", "os_family=tvOS"}},
  {"mdns", "model", "AudioAccessory5,1", {"device_type=media device", "os_family=audioOS", "vendor=Apple"}},
  {"mdns", "txt:am", "AirPort7,120", {"device_type=access point", "vendor=Apple"}},
  {"mdns", "model", "DS918+", {"!vendor", "!device_type"}},
  {"mdns", "mdns_service", "_companion-link._tcp", {"vendor=Apple", "!os_family"}},
  {"mdns", "mdns_service", "_apple-mobdev2._tcp", {"vendor=Apple"}},
  {"mdns", "mdns_service", "_hap._tcp", {"device_type=IoT"}},

  // ---- os_unix.toml ----
  {"ssh", "os_hint", "Ubuntu-4ubuntu0.11", {"os_family=Linux", "os_name=Ubuntu"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11", {"os_name=Ubuntu 20.04"}},
  {"ssh", "os_hint", "Debian-1ubuntu3", {"os_family=Linux", "os_name=Ubuntu"}},  // dns/var-services-std-ports.pcap
  {"ssh", "os_hint", "Debian-2+deb12u3", {"os_family=Linux", "os_name=Debian 12"}},
  {"ssh", "os_hint", "Debian-5", {"os_family=Linux", "os_name=Debian"}},
  {"ssh", "os_hint", "Raspbian-5+deb11u1", {"os_family=Linux", "os_name=Raspberry Pi OS"}},
  {"ssh", "os_hint", "FreeBSD-20180909", {"os_family=FreeBSD"}},
  {"ssh", "banner", "SSH-1.99-Cisco-1.25",  // ssh/ssh_version_199.pcap
   {"vendor=Cisco", "device_type=network device", "os_family=Cisco IOS"}},
  {"ssh", "banner", "SSH-2.0-Cisco-1.25", {"vendor=Cisco"}},  // ssh/ssh_version_199.pcap
  {"ssh", "banner", "SSH-2.0-dropbear_2019.78", {"os_family=Linux"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_for_Windows_8.1", {"os_family=Windows"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_5.2", {"!os_family", "!os_name"}},  // var-services-std-ports.pcap
  {"ssh", "banner", "SSH-2.0-ROSSSH", {"os_family=RouterOS", "vendor=MikroTik"}},
  {"http", "server", "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f",  // common/proto tests
   {"os_family=Linux", "os_name=Ubuntu", "!device_type"}},
  {"http", "server", "Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips PHP/5.4.16", {"os_family=Linux", "os_name=CentOS"}},
  {"http", "server", "nginx/1.18.0 (Ubuntu)", {"os_family=Linux", "os_name=Ubuntu"}},
  {"http", "server", "Apache/2.4.58 (Win64) OpenSSL/3.1.3 PHP/8.2.12", {"os_family=Windows"}},
  {"http", "server", "nginx", {"!os_family"}},
  {"ssdp", "server", "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0",
   {"os_family=Linux", "os_version=3.14.0", "vendor=Signify (Philips Hue)", "device_type=hub"}},
  {"ssdp", "server", "ipos/7.0 UPnP/1.0 TL-WDR3600/1.0",  // ssdp/raw_packets.pcap
   {"vendor=TP-Link", "model=TL-WDR3600", "device_type=router", "!os_family"}},
  {"p0f", "os", "Windows 7 or 8", {"os_family=Windows"}},
  {"p0f", "os", "Windows NT kernel", {"os_family=Windows"}},
  {"p0f", "os", "Linux 3.11 and newer", {"os_family=Linux"}},
  {"p0f", "os", "Linux 2.2.x-3.x", {"os_family=Linux"}},
  {"p0f", "os", "Linux 2.2.x-3.x (no timestamps)", {"os_family=Linux"}},
  {"p0f", "os", "Linux (Android)", {"os_family=Android"}},
  {"p0f", "os", "Mac OS X", {"os_family=macOS"}},
  {"p0f", "os", "Mac OS X 10.x", {"os_family=macOS"}},
  {"p0f", "os", "MacOS X 10.9 or newer (sometimes iPhone or iPad)", {"os_family=macOS", "vendor=Apple"}},
  {"p0f", "os", "iOS iPhone or iPad", {"os_family=iOS"}},
  {"p0f", "os", "FreeBSD 9.x or newer", {"os_family=FreeBSD"}},
  {"p0f", "os", "Solaris 10", {"os_family=Solaris"}},
  {"p0f", "os", "Nintendo 3DS", {"os_family=Nintendo", "device_type=game console"}},
  {"p0f", "app", "NMap SYN scan", {"!os_family"}},  // userland labels are field "app"

  // ---- devices.toml: LLDP / CDP ----
  {"lldp", "capabilities_enabled", "bridge", {"device_type=switch"}},  // lldp/lldp.pcap
  {"lldp", "capabilities_enabled", "bridge,router", {"device_type=network device"}},
  {"lldp", "capabilities_enabled", "router", {"device_type=router"}},
  {"lldp", "capabilities_enabled", "bridge,telephone", {"device_type=VoIP phone"}},
  {"lldp", "capabilities_enabled", "bridge,wlan_access_point", {"device_type=access point"}},
  {"lldp", "capabilities_enabled", "wlan_access_point", {"!device_type"}},  // lldp_mudurl.pcap Ubuntu host
  {"lldp", "capabilities_enabled", "bridge,router,telephone", {"device_type=VoIP phone"}},
  {"cdp", "capabilities", "router", {"device_type=router"}},  // cdp/cdp-v1.pcap
  {"cdp", "capabilities", "switch,igmp", {"device_type=switch"}},
  {"cdp", "capabilities", "router,switch,igmp", {"device_type=switch"}},
  {"cdp", "capabilities", "router,trans_bridge", {"!device_type"}},
  {"cdp", "capabilities", "host,voip_phone,two_port_mac_relay", {"device_type=VoIP phone"}},
  {"cdp", "software_version",  // cdp/cdp-v1.pcap (lines joined by ' ')
   "Cisco Internetwork Operating System Software  IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1) Copyright (c) 1986-1998 by cisco Systems, Inc. Compiled Tue 03-Mar-98 06:33 by dschwart",
   {"os_family=Cisco IOS", "vendor=Cisco", "os_version=11.2(12)P", "os_name=Cisco IOS 11.2"}},
  {"lldp", "system_description", "Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)",
   {"os_family=Cisco IOS", "os_version=15.0(2)SE11"}},
  {"cdp", "software_version", "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.3.4, RELEASE SOFTWARE (fc3)",
   {"os_family=Cisco IOS XE", "vendor=Cisco", "!os_version"}},
  {"cdp", "software_version", "Cisco Nexus Operating System (NX-OS) Software, Version 9.3(8)",
   {"os_family=Cisco NX-OS", "device_type=switch"}},
  {"lldp", "system_description", "Cisco Adaptive Security Appliance Version 9.8(4)", {"os_family=Cisco ASA", "device_type=firewall"}},
  {"lldp", "system_description",  // erspan/erspan-type-i-4.pcap (CR LF through printable())
   "H3C Comware Platform Software, Software Version 5.20, Release 1808P08??H3C S5800-56C-PWR??Copyright (c) 2004-2013 Hangzhou H3C Tech. Co., Ltd. All rights reserved.",
   {"os_family=Comware", "vendor=H3C", "os_version=5.20", "model=S5800-56C-PWR", "device_type=switch"}},
  {"lldp", "system_description",  // lldp/lldp_mudurl.pcap
   "Ubuntu 14.04.5 LTS Linux 3.13.0-106-generic #153-Ubuntu SMP Tue Dec 6 15:45:13 UTC 2016 i686",
   {"os_family=Linux", "os_name=Ubuntu 14.04", "os_version=3.13.0-106-generic"}},
  {"lldp", "system_description", "SMCGS8P-Smart - SMCGS8P-Smart v3.20",  // lldp/lldp.pcap
   {"vendor=SMC Networks", "model=SMCGS8P-Smart", "device_type=switch"}},
  {"lldp", "system_description", "Juniper Networks, Inc. ex2200-24t-4g , version 12.3R6.6 Build date: 2014-03-13 08:38:30 UTC",
   {"os_family=Junos", "vendor=Juniper", "model=ex2200-24t-4g", "device_type=switch"}},
  {"lldp", "system_description", "ProCurve J9085A Switch 2610-24, revision R.11.72, ROM R.10.06 (/sw/code/build/dosx(ndx))",
   {"vendor=HP", "model=J9085A", "device_type=switch"}},
  {"lldp", "system_description", "MikroTik RouterOS 6.49.7 (long-term) RB750Gr3",
   {"os_family=RouterOS", "os_version=6.49.7", "vendor=MikroTik"}},
  {"lldp", "system_description", "Example OS 7.1??Model EX-4800", {"!os_family", "!vendor", "!device_type"}},  // lldp tests
  {"cdp", "platform", "cisco 1601", {"vendor=Cisco", "device_type=router"}},  // cdp/cdp-v1.pcap
  {"cdp", "platform", "cisco WS-C2960X-48FPD-L", {"vendor=Cisco", "device_type=switch"}},  // cdp tests
  {"cdp", "platform", "Cisco IP Phone 7965", {"vendor=Cisco", "device_type=VoIP phone"}},
  {"cdp", "platform", "cisco AIR-AP1242AG-A-K9", {"device_type=access point"}},
  {"cdp", "platform", "N5K-C5548UP", {"vendor=Cisco", "device_type=switch", "os_family=Cisco NX-OS"}},
  {"cdp", "platform", "cisco ISR4331/K9", {"device_type=router"}},

  // ---- devices.toml: printers, cameras, IoT, media ----
  {"mdns", "mdns_service", "_pdl-datastream._tcp", {"device_type=printer"}},
  {"mdns", "mdns_service", "_ipp._tcp", {"device_type=printer"}},
  {"mdns", "mdns_service", "_uscan._tcp", {"device_type=printer"}},
  {"mdns", "txt:ty", "HP LaserJet Pro M404dn", {"device_type=printer", "model=HP LaserJet Pro M404dn"}},
  {"mdns", "txt:usb_MFG", "HP", {"vendor=HP"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:Printer:1", {"device_type=printer"}},
  {"http", "server", "HP HTTP Server; HP Color LaserJet MFP M477fdw - CF379A; Serial Number: CNB1234567; Built:Tue Oct 01, 2019 02:54:13PM {FWVER}",
   {"device_type=printer", "vendor=HP", "model=HP Color LaserJet MFP M477fdw"}},
  {"mdns", "mdns_service", "_axis-video._tcp", {"device_type=camera", "vendor=Axis"}},
  {"http", "http_realm", "AXIS_ACCC8E012345", {"vendor=Axis", "device_type=camera"}},
  {"http", "http_realm", "TP-Link IP-Camera", {"device_type=camera"}},  // TapoCamera_stream (port 8800)
  {"http", "http_realm", "IPCamera", {"device_type=camera"}},
  {"http", "http_realm", "MyIPCameraStore admin", {}},
  {"http", "server", "Hikvision-Webs", {"vendor=Hikvision", "device_type=camera"}},
  {"mdns", "mdns_service", "_hue._tcp", {"vendor=Signify (Philips Hue)", "device_type=hub"}},
  {"mdns", "mdns_service", "_sonos._tcp", {"vendor=Sonos", "device_type=speaker"}},
  {"ssdp", "server", "Linux UPnP/1.0 Sonos/57.3-77280 (ZPS9)", {"vendor=Sonos", "device_type=speaker"}},
  {"mdns", "mdns_service", "_googlecast._tcp", {"device_type=media device"}},
  {"mdns", "txt:md", "Chromecast Ultra", {"vendor=Google", "model=Chromecast Ultra", "device_type=media device"}},
  {"mdns", "txt:md", "Google Nest Mini", {"vendor=Google", "device_type=IoT"}},
  {"ssdp", "server", "Roku/9.4.0 UPnP/1.0 Roku/9.4.0", {"vendor=Roku", "device_type=media device"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", {"device_type=router"}},
  {"ssdp", "ssdp_type", "urn:dial-multiscreen-org:device:dial:1", {"device_type=media device"}},
  {"http", "http_realm", "NETGEAR R7000", {"vendor=NETGEAR", "model=R7000"}},
  // UPnP device descriptions (common/proto/upnp.h) read by the same device-type rules as SSDP.
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", {"device_type=router"}},
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:MediaRenderer:1", {"device_type=media device"}},
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:ZonePlayer:1", {"vendor=Sonos", "device_type=speaker"}},
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:Basic:1", {}},

  // ---- upnp.toml ----
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:DimmableLight:1", {"device_type=smart bulb"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:BinaryLight:1", {"device_type=smart bulb"}},
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:WLANAccessPointDevice:1", {"device_type=access point"}},
  {"upnp", "upnp_device_type", "urn:schemas-upnp-org:device:DigitalSecurityCamera:1", {"device_type=camera"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:HVAC_ZoneThermostat:1", {"device_type=thermostat"}},
  {"upnp", "model", "Philips hue bridge 2015", {"vendor=Signify (Philips Hue)", "device_type=hub"}},
  {"upnp", "model", "Philips hue bridge v2", {}},

  // ---- devices.toml: OT / ICS ----
  {"s7comm", "order_number", "6ES7 315-2EH14-0AB0", {"vendor=Siemens", "device_type=PLC"}},  // s7comm/s7ident.pcap
  {"s7comm", "model", "CPU 315-2 PN/DP", {"device_type=PLC"}},  // s7comm/s7ident.pcap
  {"s7comm", "order_number", "6ES7 151-8AB01-0AB0", {"vendor=Siemens", "device_type=PLC"}},  // s7comm_reading_plc_status.pcap
  {"s7comm", "model", "IM151-8 PN/DP CPU", {"device_type=PLC"}},  // s7comm_reading_plc_status.pcap
  {"s7comm", "order_number", "6ES7 214-1AG40-0XB0", {"vendor=Siemens", "device_type=PLC"}},  // s7comm tests
  {"s7comm", "order_number", "6AV2 123-2GB03-0AX0", {"vendor=Siemens", "device_type=HMI"}},
  {"s7comm", "order_number", "6GK7 343-1EX30-0XE0", {"vendor=Siemens", "!device_type"}},
  {"s7comm", "order_number", "6ES7 153-1AA03-0XB0", {"vendor=Siemens", "!device_type"}},  // IM153-1: no CPU
  {"s7comm", "order_number", "Boot Loader", {"!vendor", "!device_type"}},
  {"enip", "cip_device_type", "Communications Adapter", {"device_type=network device"}},  // enip/enip_test.pcap
  {"enip", "model", "1756-ENBT/A", {"!device_type"}},  // enip/enip_test.pcap
  {"enip", "cip_device_type", "Programmable Logic Controller", {"device_type=PLC"}},  // enip tests
  {"enip", "model", "1756-L71/B LOGIX5571", {"device_type=PLC"}},
  {"enip", "model", "1769-L33ER/A LOGIX5333ER", {"device_type=PLC"}},
  {"enip", "model", "2711P-T10C4D8", {"device_type=HMI"}},
  {"profinet", "device_role", "io-device", {"!device_type"}},  // profinet/ChangeIPUsingDCP.pcap
  {"profinet", "device_role", "io-controller", {"device_type=PLC"}},
  {"profinet", "model", "SCALANCE X-200", {"vendor=Siemens", "device_type=switch"}},
  {"profinet", "model", "S7-1500", {"vendor=Siemens", "device_type=PLC"}},
  {"bacnet", "model", "MS-NAE4510-2", {"vendor=Johnson Controls", "device_type=building controller"}},  // bacnet/bacnet_test.pcap
  {"bacnet", "device_instance", "1234", {"device_type=building controller"}},
  {"dnp3", "role", "outstation", {"device_type=RTU"}},  // dnp3/dnp3.pcap
  {"dnp3", "role", "master", {"!device_type"}},
  {"modbus", "product_code", "BMX P34 2020", {"device_type=PLC", "vendor=Schneider Electric"}},
  {"modbus", "server_id", "Wingpath Limited", {"!device_type"}},  // modbus/modbus_test_data_part1.pcap

  // ---- devices.toml: MAC vendors and host names ----
  {"oui", "vendor", "Apple, Inc.", {"vendor=Apple"}},  // 1kxun.pcap 60:c5:47
  {"oui", "vendor", "Routerboard.com", {"vendor=MikroTik", "device_type=router"}},  // 1kxun.pcap 4c:5e:0c
  {"oui", "vendor", "Liteon Technology Corporation", {"!vendor", "!device_type"}},  // 1kxun.pcap Joanna-PC
  {"oui", "vendor", "Raspberry Pi Trading Ltd", {"vendor=Raspberry Pi"}},  // dhcp-mud.pcap b8:27:eb
  {"oui", "vendor", "VMware, Inc.", {"device_type=virtual machine"}},
  {"oui", "vendor", "PCS Systemtechnik GmbH", {"device_type=virtual machine"}},
  {"oui", "vendor", "Synology Incorporated", {"vendor=Synology", "device_type=storage"}},
  {"oui", "vendor", "Siemens AG", {"vendor=Siemens AG"}},
  {"dhcp", "hostname", "android-f7ca0f571270c52d", {"os_family=Android"}},  // 1kxun.pcap
  {"dhcp", "hostname", "Lucas-iPhone", {"device_type=phone", "vendor=Apple", "os_family=iOS"}},  // mdns/iphone.pcap
  {"mdns", "hostname", "Lucas-iMac", {"device_type=computer", "vendor=Apple"}},  // mdns/iphone.pcap
  {"dhcp", "hostname", "MacBook-Air", {"device_type=computer", "vendor=Apple"}},  // 1kxun.pcap
  {"dhcp", "hostname", "raspberrypi", {"vendor=Raspberry Pi", "os_family=Linux"}},  // dhcp-mud.pcap
  {"dhcp", "hostname", "DESKTOP-4QK0V2M", {"os_family=Windows"}},
  {"dhcp", "hostname", "Joanna-PC", {"!os_family", "!device_type"}},  // 1kxun.pcap
  {"dhcp", "hostname", "iPhone-charger-shop", {"!device_type"}},
  {"nbns", "netbios_name", "DESKTOP-4QK0V2M", {"os_family=Windows", "device_type=computer"}},
  {"dhcp", "hostname", "Lucas-iPad", {"device_type=tablet", "vendor=Apple"}},

  {"http", "user_agent", "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)",
   {"device_type=phone", "vendor=Samsung", "os_family=Android"}},  // deploy/make-sample.py
  {"http", "user_agent", "Mozilla/5.0 (Linux; Android 12; SM-X700 Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0 Safari/537.36",
   {"device_type=tablet", "vendor=Samsung"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
   {"device_type=computer", "os_family=Windows"}},
  {"http", "user_agent", "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)", {"device_type=computer"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0 Safari/537.36 Edge/18.19041",
   {"device_type=game console"}},
  // ---- One case for each remaining table row (build and version lists) ----
  {"ntlmssp", "ntlm_version", "5.0.2195", {"os_name=Windows 2000"}},
  {"ntlmssp", "ntlm_version", "5.2.3790", {"os_name=Windows Server 2003 or XP x64"}},  // smb tests
  {"ntlmssp", "ntlm_version", "6.0.6000", {"os_name=Windows Vista"}},
  {"ntlmssp", "ntlm_version", "6.0.6001", {"os_name=Windows Vista SP1 or Server 2008"}},
  {"ntlmssp", "ntlm_version", "6.0.6002", {"os_name=Windows Vista SP2 or Server 2008 SP2"}},
  {"ntlmssp", "ntlm_version", "6.1.7600", {"os_name=Windows 7 or Server 2008 R2"}},
  {"ntlmssp", "ntlm_version", "6.2.9200", {"os_name=Windows 8 or Server 2012"}},
  {"ntlmssp", "ntlm_version", "6.3.9600", {"os_name=Windows 8.1 or Server 2012 R2"}},
  {"ntlmssp", "ntlm_version", "10.0.10240", {"os_name=Windows 10 1507"}},
  {"ntlmssp", "ntlm_version", "10.0.10586", {"os_name=Windows 10 1511"}},
  {"ntlmssp", "ntlm_version", "10.0.14393", {"os_name=Windows 10 1607 or Server 2016"}},
  {"ntlmssp", "ntlm_version", "10.0.15063", {"os_name=Windows 10 1703"}},
  {"ntlmssp", "ntlm_version", "10.0.16299", {"os_name=Windows 10 1709"}},
  {"ntlmssp", "ntlm_version", "10.0.17134", {"os_name=Windows 10 1803"}},
  {"ntlmssp", "ntlm_version", "10.0.18362", {"os_name=Windows 10 1903"}},
  {"ntlmssp", "ntlm_version", "10.0.18363", {"os_name=Windows 10 1909"}},
  {"ntlmssp", "ntlm_version", "10.0.19042", {"os_name=Windows 10 20H2"}},
  {"ntlmssp", "ntlm_version", "10.0.19043", {"os_name=Windows 10 21H1"}},
  {"ntlmssp", "ntlm_version", "10.0.19044", {"os_name=Windows 10 21H2"}},
  {"ntlmssp", "ntlm_version", "10.0.19045", {"os_name=Windows 10 22H2"}},
  {"ntlmssp", "ntlm_version", "10.0.22000", {"os_name=Windows 11 21H2"}},
  {"ntlmssp", "ntlm_version", "10.0.22621", {"os_name=Windows 11 22H2"}},
  {"smb", "native_os", "Windows 2002 Service Pack 2 2600", {"os_family=Windows", "os_name=Windows XP", "os_version=5.1.2600"}},
  {"smb", "native_os", "Windows Vista (TM) Business 6001 Service Pack 1", {"os_name=Windows Vista", "os_version=6.0.6001"}},
  {"smb", "native_os", "Windows Server (R) 2008 Enterprise 6001 Service Pack 1", {"os_name=Windows Server 2008", "device_type=server"}},
  {"smb", "native_os", "Windows 8 Pro 9200", {"os_name=Windows 8", "os_version=6.2.9200"}},
  {"smb", "native_os", "Windows 8.1 Pro 9600", {"os_name=Windows 8.1", "os_version=6.3.9600"}},
  {"smb", "native_os", "Windows Server 2012 Standard 9200", {"os_name=Windows Server 2012", "os_version=6.2.9200"}},
  {"smb", "native_os", "Windows Server 2016 Standard 14393", {"os_name=Windows Server 2016", "os_version=10.0.14393"}},
  {"browser", "windows_version", "6.3", {"os_name=Windows 8.1 or Server 2012 R2"}},
  {"browser", "windows_version", "6.2", {"os_name=Windows 8 or Server 2012"}},
  {"browser", "windows_version", "6.0", {"os_name=Windows Vista or Server 2008"}},
  {"browser", "windows_version", "5.2", {"os_name=Windows Server 2003 or XP x64"}},
  {"browser", "windows_version", "5.1", {"os_name=Windows XP"}},
  {"browser", "windows_version", "5.0", {"os_name=Windows 2000"}},
  {"ssdp", "server", "Microsoft-Windows/6.1 UPnP/1.0 UPnP-Device-Host/1.0", {"os_family=Windows", "os_version=6.1"}},
  {"http", "server", "Microsoft-IIS/10.0", {"os_name=Windows Server 2016 or later"}},
  {"http", "server", "Microsoft-IIS/8.5", {"os_name=Windows Server 2012 R2", "os_version=6.3"}},
  {"http", "server", "Microsoft-IIS/8.0", {"os_name=Windows Server 2012"}},
  {"http", "server", "Microsoft-IIS/7.0", {"os_name=Windows Server 2008"}},
  {"http", "server", "Microsoft-IIS/6.0", {"os_name=Windows Server 2003"}},
  {"http", "server", "Microsoft-IIS/5.0", {"os_name=Windows 2000"}},
  {"http", "server", "Apache/2.4.56 (Debian)", {"os_family=Linux", "os_name=Debian"}},
  {"http", "server", "Apache/2.4.57 (FreeBSD)", {"os_family=FreeBSD"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 6.3; Win64; x64; Trident/7.0; rv:11.0) like Gecko", {"os_name=Windows 8.1"}},
  {"http", "user_agent", "Mozilla/5.0 (Windows NT 6.2; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0 Safari/537.36", {"os_name=Windows 8"}},
  {"http", "user_agent", "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", {"os_name=Windows Vista"}},
  {"http", "user_agent", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.2)", {"os_name=Windows XP x64 or Server 2003"}},
  {"http", "user_agent", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)", {"os_name=Windows 2000"}},
  {"http", "user_agent", "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0", {"os_family=Linux", "os_name=Fedora"}},
  {"http", "user_agent", "Mozilla/5.0 (X11; FreeBSD amd64; rv:109.0) Gecko/20100101 Firefox/115.0", {"os_family=FreeBSD"}},
  {"http", "user_agent", "Wget/1.21.4 (mingw32)", {"os_family=Windows"}},
  {"http", "user_agent", "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393", {"device_type=game console"}},
  {"http", "user_agent", "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager", {"os_family=webOS", "device_type=media device"}},
  {"ssdp", "user_agent", "Google Chrome/108.0.5359.125 Windows", {"os_family=Windows"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13", {"os_name=Ubuntu 14.04"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_7.2p2 Ubuntu-4ubuntu2.10", {"os_name=Ubuntu 16.04"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_7.6p1 Ubuntu-4ubuntu0.7", {"os_name=Ubuntu 18.04"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", {"os_name=Ubuntu 22.04"}},
  {"ssh", "banner", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5", {"os_name=Ubuntu 24.04"}},
  {"p0f", "os", "Windows XP", {"os_family=Windows", "os_name=Windows XP"}},
  {"p0f", "os", "OpenBSD 4.x-5.x", {"os_family=OpenBSD"}},
  {"p0f", "os", "HP-UX 11.x", {"os_family=HP-UX"}},
  {"p0f", "os", "OpenVMS 7.x", {"os_family=OpenVMS"}},
  {"p0f", "os", "Blackberry", {"os_family=BlackBerry"}},
  {"dhcp", "vendor_class", "MSFT 98", {"os_family=Windows", "os_name=Windows 98 or Me"}},
  {"dhcp", "vendor_class", "dhcpcd-9.4.1:FreeBSD-13.2-RELEASE:amd64", {"os_family=FreeBSD", "os_version=13.2-RELEASE"}},
  {"dhcp", "vendor_class", "ubnt", {"vendor=Ubiquiti"}},
  {"mdns", "osxvers", "8", {"os_name=macOS 10.4"}},
  {"mdns", "osxvers", "9", {"os_name=macOS 10.5"}},
  {"mdns", "osxvers", "10", {"os_name=macOS 10.6"}},
  {"mdns", "osxvers", "11", {"os_name=macOS 10.7"}},
  {"mdns", "osxvers", "12", {"os_name=macOS 10.8"}},
  {"mdns", "osxvers", "13", {"os_name=macOS 10.9"}},
  {"mdns", "osxvers", "14", {"os_name=macOS 10.10"}},
  {"mdns", "osxvers", "15", {"os_name=macOS 10.11"}},
  {"mdns", "osxvers", "16", {"os_name=macOS 10.12"}},
  {"mdns", "osxvers", "18", {"os_name=macOS 10.14"}},
  {"mdns", "osxvers", "19", {"os_name=macOS 10.15"}},
  {"mdns", "osxvers", "20", {"os_name=macOS 11"}},
  {"mdns", "osxvers", "21", {"os_name=macOS 12"}},
  {"mdns", "osxvers", "23", {"os_name=macOS 14"}},
  {"mdns", "osxvers", "24", {"os_name=macOS 15", "os_version=15"}},
  {"mdns", "model", "Xserve3,1", {"device_type=server"}},
  {"mdns", "model", "iPod9,1", {"os_family=iOS"}},
  {"mdns", "mdns_service", "_sleep-proxy._udp", {"vendor=Apple"}},
  {"mdns", "mdns_service", "_airplay._tcp", {"device_type=media device"}},
  {"mdns", "mdns_service", "_printer._tcp", {"device_type=printer"}},
  {"mdns", "txt:usb_MDL", "LaserJet Pro M404dn", {"model=LaserJet Pro M404dn"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:ZonePlayer:1", {"vendor=Sonos"}},
  {"ssdp", "ssdp_type", "urn:schemas-upnp-org:device:MediaRenderer:1", {"device_type=media device"}},
  {"lldp", "capabilities_enabled", "bridge,docsis", {"device_type=network device"}},
  {"lldp", "system_description", "Juniper Networks, Inc. srx300 internet router, kernel JUNOS 20.4R3", {"device_type=firewall", "model=srx300"}},
  {"lldp", "system_description", "Juniper Networks, Inc. mx480 internet router, kernel JUNOS 15.1R7.9", {"device_type=router"}},
  {"lldp", "system_description", "ArubaOS (MODEL: 515), Version 8.10.0.2", {"os_family=ArubaOS", "vendor=Aruba"}},
  {"lldp", "system_description", "Debian GNU/Linux 12 (bookworm) Linux 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29) x86_64",
   {"os_family=Linux", "os_name=Debian 12", "os_version=6.1.0-13-amd64"}},
  {"s7comm", "order_number", "6ES7 412-2EK06-0AB0", {"device_type=PLC"}},
  {"s7comm", "order_number", "6ES7 516-3AN01-0AB0", {"device_type=PLC"}},
  {"enip", "cip_device_type", "Human-Machine Interface", {"device_type=HMI"}},
  {"enip", "cip_device_type", "Managed Ethernet Switch", {"device_type=switch"}},
  {"enip", "model", "1783-BMS10CGL", {"device_type=switch"}},
  {"profinet", "model", "SCALANCE W788-1 RJ45", {"device_type=access point"}},
  {"oui", "vendor", "Parallels, Inc.", {"device_type=virtual machine"}},
  {"oui", "vendor", "Hangzhou Hikvision Digital Technology Co.,Ltd.", {"vendor=Hikvision"}},
  {"oui", "vendor", "Zhejiang Dahua Technology Co., Ltd.", {"vendor=Dahua"}},
  {"oui", "vendor", "Axis Communications AB", {"vendor=Axis"}},
  {"oui", "vendor", "Sonos, Inc.", {"vendor=Sonos"}},
  {"oui", "vendor", "Signify B.V.", {"device_type=hub"}},
  {"oui", "vendor", "Espressif Inc.", {"device_type=IoT", "!vendor"}},
  {"oui", "vendor", "Nintendo Co.,Ltd", {"vendor=Nintendo"}},
  {"oui", "vendor", "Sony Interactive Entertainment Inc.", {"device_type=game console"}},
  {"oui", "vendor", "Roku, Inc", {"vendor=Roku"}},
  {"oui", "vendor", "Seiko Epson Corporation", {"device_type=printer"}},
  {"oui", "vendor", "Cisco Systems, Inc", {"vendor=Cisco"}},
  {"oui", "vendor", "Ubiquiti Networks Inc.", {"vendor=Ubiquiti"}},

  // ---- cloud.toml: whom a device calls (DNS query names, TLS SNI) ----
  {"dns", "dns_query", "VS-cam.u011.immedia-semi.com", {"vendor=Blink (Amazon)", "device_type=camera"}},  // tj-oconnor blink-cam
  {"tls", "sni", "euw1-device-tapo-care.i.tplinknbu.com", {"vendor=TP-Link", "device_type=camera"}},  // shs TapoCamera
  {"tls", "sni", "aps1-relay-dcipc-beta.i.tplinknbu.com", {"vendor=TP-Link", "device_type=camera"}},
  {"tls", "sni", "security.iot.i.tplinknbu.com", {"vendor=TP-Link", "!device_type"}},  // plugs and bulbs too
  {"tls", "sni", "n-devs.tplinkcloud.com", {"vendor=TP-Link", "!device_type"}},
  {"tls", "sni", "euw1-api.tplinkra.com", {"vendor=TP-Link"}},
  {"tls", "sni", "www.tplink.com", {"!vendor"}},  // the web site, not a device cloud
  {"tls", "sni", "mp-eu-fwd.auto.mydlink.com", {"vendor=D-Link", "!device_type"}},  // shs DLinkCamera
  {"tls", "sni", "business.smartcamera.api.io.mi.com", {"vendor=Xiaomi", "device_type=camera"}},  // shs XiaomiCamera
  {"dns", "dns_query", "xiaomi5.p2psy2.mijia.tech", {"vendor=Xiaomi", "!device_type"}},
  {"dns", "dns_query", "es.devices.ring.com", {"vendor=Ring (Amazon)", "device_type=doorbell"}},
  {"dns", "dns_query", "api.ring.com", {"!vendor"}},  // the app's API
  {"dns", "dns_query", "mqtt-eu-01.iot.meethue.com", {"vendor=Signify (Philips Hue)", "device_type=hub"}},  // shs HueLight
  {"tls", "sni", "data.meethue.com", {"device_type=hub"}},
  {"dns", "dns_query", "discovery.meethue.com", {"!device_type"}},  // the Hue app asks it
  {"dns", "dns_query", "a3.tuyaeu.com", {"vendor=Tuya", "device_type=IoT"}},  // shs TuyaLight, tuya-motion
  {"dns", "dns_query", "m2.tuyaus.com", {"vendor=Tuya"}},
  {"dns", "dns_query", "openapi.tuyaeu.com", {"!vendor"}},  // cloud API for apps and servers
  {"dns", "dns_query", "dc-eu01-euwest1.connect.smartthings.com", {"vendor=Samsung SmartThings", "device_type=hub"}},  // shs_firewall smartthings-hub
  {"tls", "sni", "connectivity.smartthings.com", {"vendor=Samsung SmartThings", "!device_type"}},
  {"dns", "dns_query", "api.allegionengage.com", {"vendor=Schlage (Allegion)", "device_type=lock"}},  // tj-oconnor schlage-lock
  {"dns", "dns_query", "plug.sciener.cn", {"vendor=Sciener (TTLock)", "device_type=hub"}},  // tj-oconnor sifely-hub
  {"tls", "sni", "scalews.withings.net", {"vendor=Withings", "device_type=health device"}},  // iotsec withings_bpm_wifi
  {"tls", "sni", "account.withings.com", {"!vendor"}},
  {"dns", "dns_query", "prov1.talk4free.com", {"vendor=magicJack", "device_type=VoIP phone"}},  // MagicJack_pwr_up.pcap
  {"dns", "dns_query", "serversyslog.neufbox.neuf.fr", {"vendor=SFR", "device_type=router"}},  // nb6-startup.pcap
  {"dns", "dns_query", "a30hje92j76kem.iot.us-west-2.amazonaws.com", {"device_type=IoT", "!vendor"}},
  {"dns", "dns_query", "a30xqtffg389ek-ats.iot.us-west-2.amazonaws.com", {"device_type=IoT"}},
  {"dns", "dns_query", "s3.us-west-2.amazonaws.com", {"!device_type"}},
  {"dns", "dns_query", "a1GuxeFynXG.iot-as-mqtt.us-west-1.aliyuncs.com", {"device_type=IoT"}},  // tj-oconnor lockly-hub
  {"dns", "dns_query", "ntp1.aliyun.com", {"!device_type"}},

  // ---- iot.toml: what a device says about itself ----
  {"dhcp", "hostname", "F4B85EFF2B1B-mysimplelink", {"device_type=IoT", "!vendor"}},  // tj-oconnor blink-cam
  {"dhcp", "hostname", "ESP_511723", {"device_type=IoT", "module_vendor=Espressif"}},  // shs TuyaLight
  {"dhcp", "hostname", "ESP-EB59C4", {"device_type=IoT"}},  // tj-oconnor sifely-hub
  {"dhcp", "hostname", "ESPRESSO-BAR", {"!device_type"}},
  {"dhcp", "hostname", "C200", {"device_type=camera"}},  // shs TapoCamera
  {"dhcp", "hostname", "C2000", {"!device_type"}},
  {"dhcp", "hostname", "P110", {"device_type=smart plug"}},  // shs TapoPlug
  {"dhcp", "hostname", "L530", {"device_type=smart bulb"}},  // shs TapoLight
  {"dhcp", "hostname", "HS110", {"device_type=smart plug", "vendor=TP-Link"}},  // shs TpLinkPlug
  {"dhcp", "hostname", "HS200", {"!device_type"}},  // a wall switch
  {"dhcp", "hostname", "DCS-8000LH", {"device_type=camera", "vendor=D-Link"}},  // shs DLinkCamera
  {"mdns", "model", "DCS-8000LH", {"device_type=camera", "vendor=D-Link"}},
  {"dhcp", "hostname", "chuangmi_camera_ipc019", {"device_type=camera", "vendor=Xiaomi"}},  // shs XiaomiCamera
  {"dhcp", "hostname", "yeelink-light-color1_miio12345", {"device_type=smart bulb"}},
  {"dhcp", "hostname", "cuco-plug-cp1_mibt1234", {"device_type=smart plug"}},
  {"dhcp", "hostname", "hubv3-04021272243", {"device_type=hub", "vendor=Samsung SmartThings"}},  // shs_firewall smartthings-hub
  {"mdns", "instance_name", "SmartThings Hub #1159", {"device_type=hub", "vendor=Samsung SmartThings"}},
  {"dhcp", "hostname", "Schlage", {"device_type=lock", "vendor=Schlage (Allegion)"}},  // tj-oconnor schlage-lock
  {"dhcp", "hostname", "Schlage-PC", {"!device_type"}},
  {"dhcp", "vendor_class", "neufbox_NB6-FXC-r2_NB6-MAIN-R3.3.4_NB6-ADSL-A2pD035p",  // nb6-startup.pcap
   {"vendor=SFR", "device_type=router", "model=NB6"}},
  {"tls", "cert_subject_ou", "Sonos Devices", {"vendor=Sonos", "device_type=speaker"}},  // ndpi/sonos.pcapng
  {"s7comm", "role", "server", {"device_type=PLC", "vendor=Siemens"}},  // iti_ics wincc_s400_production
  {"modbus", "role", "server", {"device_type=PLC", "!vendor"}},  // iti_ics modicon_test
  {"dnp3", "role", "server", {"!device_type"}},
  // ---- snmp_wsd.toml: SNMP agents (values as common/proto/snmp.cpp emits
  // them: enterprise is the IANA PEN in sysObjectID) ----
  {"snmp", "enterprise", "9", {"vendor=Cisco", "device_type=network device"}},
  {"snmp", "enterprise", "11", {"vendor=HP", "!device_type"}},
  {"snmp", "enterprise", "2636", {"vendor=Juniper", "os_family=Junos"}},
  {"snmp", "enterprise", "2011", {"vendor=Huawei"}},
  {"snmp", "enterprise", "14988", {"vendor=MikroTik", "os_family=RouterOS", "device_type=router"}},
  {"snmp", "enterprise", "41112", {"vendor=Ubiquiti"}},
  {"snmp", "enterprise", "6574", {"vendor=Synology", "device_type=storage"}},
  {"snmp", "enterprise", "4526", {"vendor=Netgear"}},
  {"snmp", "enterprise", "11863", {"vendor=TP-Link"}},
  {"snmp", "enterprise", "12356", {"vendor=Fortinet", "device_type=firewall"}},
  {"snmp", "enterprise", "25461", {"vendor=Palo Alto Networks", "device_type=firewall"}},
  {"snmp", "enterprise", "30065", {"vendor=Arista", "device_type=switch"}},
  {"snmp", "enterprise", "318", {"vendor=APC"}},
  {"snmp", "enterprise", "253", {"vendor=Xerox", "device_type=printer"}},
  {"snmp", "enterprise", "641", {"vendor=Lexmark", "device_type=printer"}},
  {"snmp", "enterprise", "1602", {"vendor=Canon", "device_type=printer"}},
  {"snmp", "enterprise", "2435", {"vendor=Brother", "device_type=printer"}},
  {"snmp", "enterprise", "367", {"vendor=Ricoh", "device_type=printer"}},
  {"snmp", "enterprise", "8072", {"!vendor", "!os_family"}},  // Net-SNMP: software, not a maker
  {"snmp", "enterprise", "90", {"!vendor"}},                  // whole numbers only: not Cisco's 9
  {"snmp", "sys_object_id", "1.3.6.1.4.1.8072.3.2.10", {"os_family=Linux"}},
  {"snmp", "sys_object_id", "1.3.6.1.4.1.8072.3.2.8", {"os_family=FreeBSD"}},
  {"snmp", "sys_object_id", "1.3.6.1.4.1.311.1.1.3.1.2", {"os_family=Windows"}},
  {"snmp", "system_description", "Linux nas01 4.4.180+ #42962 SMP Tue Oct 18 15:07:03 CST 2022 x86_64",
   {"os_family=Linux", "os_version=4.4.180+"}},
  {"snmp", "system_description",
   "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)",
   {"os_family=Windows", "os_version=6.3"}},
  {"snmp", "system_description",  // the same banner CDP carries (cdp/cdp-v1.pcap style), read by devices.toml
   "Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(55)SE5, RELEASE SOFTWARE (fc1)",
   {"os_family=Cisco IOS", "vendor=Cisco", "os_version=12.2(55)SE5"}},
  // ---- snmp_wsd.toml: WS-Discovery device types ----
  {"wsd", "types", "dn:NetworkVideoTransmitter tds:Device", {"device_type=camera"}},
  {"wsd", "types", "wsdp:Device wprt:PrintDeviceType wscn:ScanDeviceType", {"device_type=printer"}},
  {"wsd", "types", "wsdp:Device wscn:ScanDeviceType", {"device_type=scanner"}},
  {"wsd", "types", "wsdp:Device pub:Computer", {"os_family=Windows", "device_type=computer"}},
  {"wsd", "types", "wsdp:Device", {"!device_type", "!os_family"}},
};
// clang-format on

std::vector<derived_fact> derive(const fact_case& c) {
  std::vector<derived_fact> out;
  apply_named(c.source, c.field, c.value, out);
  return out;
}

std::string dump(const std::vector<derived_fact>& v) {
  std::string s;
  for (const auto& d : v) {
    s += "  " + std::string(d.field) + "=" + d.value + " @" + std::to_string(d.confidence) + " (" + std::string(d.rule_id) + ")\n";
  }
  return s.empty() ? "  (nothing)\n" : s;
}

TEST(RulesData, EveryFileLoadsAndEveryRuleHasAComment) {
  const auto& s = shipped();
  EXPECT_GE(s.file_count(), 6u);
  std::map<std::string, int> per_file;
  for (const auto& r : s.rules()) {
    EXPECT_GE(r.comment.size(), 10u) << r.id;
    ++per_file[r.file.substr(r.file.rfind('/') + 1)];
  }
  for (const char* f : {"os_http.toml", "os_dhcp.toml", "os_windows.toml", "os_apple.toml", "os_unix.toml", "devices.toml"}) {
    EXPECT_GT(per_file[f], 0) << f;
  }
  std::printf("%zu rules in %zu files:", s.size(), s.file_count());
  for (const auto& [f, n] : per_file) {
    std::printf(" %s %d;", f.c_str(), n);
  }
  std::printf("\n");
}

TEST(RulesData, Cases) {
  for (const auto& c : cases) {
    const auto out = derive(c);
    for (const auto& e : c.expect) {
      if (e[0] == '!') {
        const std::string field = e.substr(1);
        for (const auto& d : out) {
          EXPECT_NE(d.field, field) << c.source << "/" << c.field << " = " << c.value << "\n" << dump(out);
        }
        continue;
      }
      const auto eq = e.find('=');
      const std::string field = e.substr(0, eq);
      const std::string value = e.substr(eq + 1);
      int best = -1;
      std::string best_value;
      for (const auto& d : out) {
        if (d.field == field && d.confidence > best) {
          best = d.confidence;
          best_value = d.value;
        }
      }
      EXPECT_EQ(best_value, value) << "field " << field << " for " << c.source << "/" << c.field << " = " << c.value
                                   << "\n" << dump(out);
    }
  }
}

// No two rules may give different values of one field at the same
// confidence for one input: the fingerprinter could then only pick by order.
TEST(RulesData, NoContradictionsOnTheCases) {
  for (const auto& c : cases) {
    const auto out = derive(c);
    std::map<std::pair<std::string, int>, std::string> seen;
    for (const auto& d : out) {
      const auto [it, inserted] = seen.emplace(std::make_pair(d.field, int{d.confidence}), d.value);
      EXPECT_TRUE(inserted || it->second == d.value)
          << c.source << "/" << c.field << " = " << c.value << ": " << d.field << " is both '" << it->second
          << "' and '" << d.value << "' at " << int{d.confidence} << "\n" << dump(out);
    }
  }
}

TEST(RulesData, EveryRuleFiresOnSomeCase) {
  std::set<std::string> fired;
  for (const auto& c : cases) {
    for (const auto& d : derive(c)) {
      fired.insert(std::string(d.rule_id));
    }
  }
  std::vector<std::string> silent;
  for (const auto& r : shipped().rules()) {
    if (fired.count(r.id) == 0) {
      silent.push_back(r.id);
    }
  }
  std::printf("%zu of %zu rules fire on the %zu cases; silent:", fired.size(), shipped().size(), cases.size());
  for (const auto& id : silent) {
    std::printf(" %s", id.c_str());
  }
  std::printf("\n");
  // Every rule is exercised: a new rule comes with a case here.
  EXPECT_TRUE(silent.empty()) << silent.size() << " rules have no case in this file";
}

// apply() cost per fact with every rule loaded: the cases (which match), and
// facts of the same fields that match nothing.
TEST(RulesData, ApplyCost) {
  std::vector<fact_case> load = cases;
  for (const auto& c : cases) {
    load.push_back({c.source, c.field, "some unremarkable value 12345 that matches nothing at all", {}});
  }
  std::vector<derived_fact> out;
  out.reserve(64);
  const int rounds = 200;
  std::size_t derived = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (const auto& c : load) {
      out.clear();
      apply_named(c.source, c.field, c.value, out);
      derived += out.size();
    }
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  const double per = static_cast<double>(ns) / static_cast<double>(rounds * load.size());
  std::printf("apply(): %.0f ns per fact on average over %zu facts x %d rounds (%zu derived facts per round)\n", per,
              load.size(), rounds, derived / rounds);
  // Per field, for the report.
  std::map<std::string, std::pair<double, int>> by_field;
  for (const auto& c : load) {
    const auto a = std::chrono::steady_clock::now();
    for (int r = 0; r < 50; ++r) {
      out.clear();
      apply_named(c.source, c.field, c.value, out);
    }
    const auto b = std::chrono::steady_clock::now();
    auto& [sum, n] = by_field[std::string(c.source) + "/" + c.field];
    sum += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()) / 50.0;
    ++n;
  }
  for (const auto& [f, v] : by_field) {
    std::printf("  %-32s %7.0f ns\n", f.c_str(), v.first / v.second);
  }
  EXPECT_LT(per, 50000.0);  // generous: a sanity bound, not a benchmark gate
}

// Hostile values (1 KiB of near-misses for the shipped regexes) stay cheap.
TEST(RulesData, HostileValuesStayCheap) {
  const std::vector<std::string> chunks = {
      "Android 1.1; ", "Windows NT 1", "Mac OS X 10_1", "iPhone OS 1_", "Version 1.1(", "(X11; a; ",
      "1,121,3,6,15,", "Cisco IOS Software ", "Comware Platform Software, Software Version 1.",
      "dhcpcd-1:", " Linux 1.1.1 ", "Juniper Networks, Inc. ex", "aaaaaaaa", "\xff\xfe", "-iPhone-1",
  };
  double worst_ns = 0;
  std::string worst;
  for (const auto& r : shipped().rules()) {
    for (const auto& field : r.fields) {
      for (const auto& ch : chunks) {
        std::string v;
        while (v.size() < rule_set::max_value_len) {
          v += ch;
        }
        const std::string src = r.sources.empty() ? "http" : r.sources[0];
        std::vector<derived_fact> out;
        const auto t0 = std::chrono::steady_clock::now();
        apply_named(src, field, v, out);
        const auto ns = static_cast<double>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
        if (ns > worst_ns) {
          worst_ns = ns;
          worst = src + "/" + field + " with '" + ch + "'...";
        }
      }
    }
  }
  std::printf("worst hostile 1 KiB value: %.0f us (%s)\n", worst_ns / 1000.0, worst.c_str());
  EXPECT_LT(worst_ns, 50e6);
}

}  // namespace
