// WS-Discovery parser (common/proto/wsd.h): every truncation first, then a
// camera's ProbeMatches (ONVIF scopes), a printer's Hello, a Windows
// computer's Hello, a client's Probe, and the facts each gives. The
// envelopes follow the WS-Discovery 2005/04 schema that ONVIF and Windows
// use (element names, namespaces and Action URIs as that schema and ONVIF
// Core Specification 7.3 define them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/wsd.h"

using namespace tapsense::proto;

namespace {

const std::string camera_probe_matches =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    R"(<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" )"
    R"(xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" )"
    R"(xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" )"
    R"(xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">)"
    R"(<SOAP-ENV:Header><wsa:MessageID>uuid:1419d68a-1dd2-11b2-a105-F0000000A1B2</wsa:MessageID>)"
    R"(<wsa:RelatesTo>uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsa:RelatesTo>)"
    R"(<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>)"
    R"(<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>)"
    R"(</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>)"
    R"(<wsa:EndpointReference><wsa:Address>urn:uuid:1419d68a-1dd2-11b2-a105-F0000000A1B2</wsa:Address></wsa:EndpointReference>)"
    R"(<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>)"
    R"(<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming )"
    R"(onvif://www.onvif.org/hardware/DS-2CD2043G0-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G0-I )"
    R"(onvif://www.onvif.org/location/city/hangzhou</d:Scopes>)"
    R"(<d:XAddrs>http://192.168.1.64/onvif/device_service</d:XAddrs>)"
    R"(<d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>)";

const std::string printer_hello =
    R"(<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" )"
    R"(xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery" )"
    R"(xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof" xmlns:wprt="http://schemas.microsoft.com/windows/2006/08/wdp/print" )"
    R"(xmlns:wscn="http://schemas.microsoft.com/windows/2006/08/wdp/scan"><soap:Header>)"
    R"(<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>)"
    R"(<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</wsa:Action>)"
    R"(<wsa:MessageID>urn:uuid:e3b0a9c2-0000-1000-8000-3c2af4112233</wsa:MessageID></soap:Header><soap:Body><wsd:Hello>)"
    R"(<wsa:EndpointReference><wsa:Address>urn:uuid:e3b0a9c2-0000-1000-8000-3c2af4112233</wsa:Address></wsa:EndpointReference>)"
    R"(<wsd:Types>wsdp:Device wprt:PrintDeviceType wscn:ScanDeviceType</wsd:Types>)"
    R"(<wsd:XAddrs>http://192.168.1.30:80/WebServices/Device</wsd:XAddrs>)"
    R"(<wsd:MetadataVersion>1</wsd:MetadataVersion></wsd:Hello></soap:Body></soap:Envelope>)";

const std::string client_probe =
    R"(<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" )"
    R"(xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery" )"
    R"(xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof"><soap:Header>)"
    R"(<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>)"
    R"(<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>)"
    R"(<wsa:MessageID>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsa:MessageID></soap:Header>)"
    R"(<soap:Body><wsd:Probe><wsd:Types>wsdp:Device</wsd:Types></wsd:Probe></soap:Body></soap:Envelope>)";

// A DPWS device that puts its ThisModel in the datagram (some do, in a Hello's extension).
const std::string dpws_hello =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" )"
    R"(xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:p="http://schemas.xmlsoap.org/ws/2006/02/devprof">)"
    R"(<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</a:Action></s:Header><s:Body><d:Hello>)"
    R"(<d:Types>p:Device</d:Types><p:ThisModel><p:Manufacturer>Brother</p:Manufacturer>)"
    R"(<p:ModelName>MFC-L2710DW</p:ModelName><p:ModelNumber>L2710</p:ModelNumber></p:ThisModel>)"
    R"(<p:ThisDevice><p:FriendlyName>Office printer</p:FriendlyName><p:FirmwareVersion>1.62</p:FirmwareVersion></p:ThisDevice>)"
    R"(</d:Hello></s:Body></s:Envelope>)";

struct collect : fact_sink {
  std::vector<fact> v;
  void add(fact f) override { v.push_back(std::move(f)); }
  std::vector<std::string> get(std::string_view field) const {
    std::vector<std::string> out;
    for (const auto& f : v) {
      if (f.field == field) out.push_back(f.value);
    }
    return out;
  }
};

wsd_error parse(const std::string& s, wsd_message& m) {
  return parse_wsd({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}, m);
}

TEST(Wsd, EveryTruncationIsSafe) {
  for (const std::string* full : {&camera_probe_matches, &printer_hello, &client_probe, &dpws_hello}) {
    for (std::size_t n = 0; n < full->size(); ++n) {
      wsd_message m;
      const auto e = parse(full->substr(0, n), m);
      // Before the Action is read nothing counts; after it, what was read
      // stays (the XML is not validated: a cut between elements is not seen).
      if (n < full->find("</wsa:Action>") && n < full->find("</a:Action>")) {
        EXPECT_NE(e, wsd_error::none) << "cut at " << n;
        EXPECT_EQ(m.kind, wsd_kind::other);
      }
      collect c;
      wsd_facts(m, {}, c);
    }
  }
}

TEST(Wsd, CameraProbeMatches) {
  wsd_message m;
  ASSERT_EQ(parse(camera_probe_matches, m), wsd_error::none);
  EXPECT_EQ(m.kind, wsd_kind::probe_matches);
  EXPECT_EQ(m.types, "dn:NetworkVideoTransmitter tds:Device");
  EXPECT_EQ(m.xaddrs, "http://192.168.1.64/onvif/device_service");
  EXPECT_EQ(m.endpoint, "urn:uuid:1419d68a-1dd2-11b2-a105-F0000000A1B2");
  EXPECT_EQ(wsd_onvif_scope(m.scopes, "hardware"), "DS-2CD2043G0-I");
  EXPECT_EQ(wsd_onvif_scope(m.scopes, "name"), "HIKVISION DS-2CD2043G0-I");
  EXPECT_EQ(wsd_onvif_scope(m.scopes, "location"), "city/hangzhou");
  EXPECT_EQ(wsd_onvif_scope(m.scopes, "nothing"), "");
  collect c;
  wsd_facts(m, {}, c);
  EXPECT_EQ(c.get("types"), std::vector<std::string>{"dn:NetworkVideoTransmitter tds:Device"});
  EXPECT_EQ(c.get("model"), std::vector<std::string>{"DS-2CD2043G0-I"});
  EXPECT_EQ(c.get("onvif_name"), std::vector<std::string>{"HIKVISION DS-2CD2043G0-I"});
  EXPECT_EQ(c.get("onvif_type"), std::vector<std::string>{"video_encoder"});
  for (const auto& f : c.v) EXPECT_EQ(f.source.str(), "wsd");
}

TEST(Wsd, PrinterHello) {
  wsd_message m;
  ASSERT_EQ(parse(printer_hello, m), wsd_error::none);
  EXPECT_EQ(m.kind, wsd_kind::hello);
  EXPECT_EQ(m.types, "wsdp:Device wprt:PrintDeviceType wscn:ScanDeviceType");
  EXPECT_EQ(m.scopes.data(), nullptr);
  collect c;
  wsd_facts(m, {}, c);
  EXPECT_EQ(c.get("types").size(), 1u);
  EXPECT_TRUE(c.get("model").empty());
}

TEST(Wsd, DpwsModelInTheDatagram) {
  wsd_message m;
  ASSERT_EQ(parse(dpws_hello, m), wsd_error::none);
  collect c;
  wsd_facts(m, {}, c);
  EXPECT_EQ(c.get("vendor"), std::vector<std::string>{"Brother"});
  EXPECT_EQ(c.get("model"), std::vector<std::string>{"MFC-L2710DW"});
  EXPECT_EQ(c.get("model_number"), std::vector<std::string>{"L2710"});
  EXPECT_EQ(c.get("friendly_name"), std::vector<std::string>{"Office printer"});
  EXPECT_EQ(c.get("firmware"), std::vector<std::string>{"1.62"});
}

TEST(Wsd, AProbeOnlySaysWhatTheClientLooksFor) {
  wsd_message m;
  ASSERT_EQ(parse(client_probe, m), wsd_error::none);
  EXPECT_EQ(m.kind, wsd_kind::probe);
  collect c;
  wsd_facts(m, {}, c);
  ASSERT_EQ(c.v.size(), 1u);
  EXPECT_EQ(c.v[0].field.str(), "wsd_search");
  EXPECT_EQ(c.v[0].value, "wsdp:Device");
}

TEST(Wsd, NotWsDiscovery) {
  for (const std::string& s : {std::string(""), std::string("M-SEARCH * HTTP/1.1\r\n\r\n"),
                              std::string("<html><body>no envelope</body></html>"),
                              std::string("<s:Envelope><s:Body/></s:Envelope>")}) {
    wsd_message m;
    EXPECT_EQ(parse(s, m), wsd_error::not_wsd) << s;
    collect c;
    wsd_facts(m, {}, c);
    EXPECT_TRUE(c.v.empty());
  }
}

}  // namespace
