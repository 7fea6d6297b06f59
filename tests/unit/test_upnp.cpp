// UPnP device description parser (common/proto/upnp.h): every truncation
// first, then a Hue bridge's description (as Philips' bridges serve it at
// /description.xml: deviceType Basic, an embedded-device-free root), an
// Internet gateway with embedded devices (only the root device counts),
// documents that are not UPnP, and the facts. Element names and namespace
// as UPnP Device Architecture 1.1 section 2.3 defines them.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/proto/upnp.h"

using namespace tapsense::proto;

namespace {

const std::string hue_bridge =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n"
    "<root xmlns=\"urn:schemas-upnp-org:device-1-0\">\r\n"
    "<specVersion><major>1</major><minor>0</minor></specVersion>\r\n"
    "<URLBase>http://192.168.1.141:80/</URLBase>\r\n"
    "<device>\r\n"
    "<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>\r\n"
    "<friendlyName>Philips hue (192.168.1.141)</friendlyName>\r\n"
    "<manufacturer>Signify</manufacturer>\r\n"
    "<manufacturerURL>http://www.philips-hue.com</manufacturerURL>\r\n"
    "<modelDescription>Philips hue Personal Wireless Lighting</modelDescription>\r\n"
    "<modelName>Philips hue bridge 2015</modelName>\r\n"
    "<modelNumber>BSB002</modelNumber>\r\n"
    "<modelURL>http://www.philips-hue.com</modelURL>\r\n"
    "<serialNumber>001788fffe36b07f</serialNumber>\r\n"
    "<UDN>uuid:2f402f80-da50-11e1-9b23-00178836b07f</UDN>\r\n"
    "<presentationURL>index.html</presentationURL>\r\n"
    "<iconList><icon><mimetype>image/png</mimetype><height>48</height><width>48</width><depth>24</depth>"
    "<url>hue_logo_0.png</url></icon></iconList>\r\n"
    "</device>\r\n"
    "</root>\r\n";

const std::string gateway =
    "<?xml version=\"1.0\"?>"
    "<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>0</minor></specVersion>"
    "<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"
    "<friendlyName>NETGEAR R7000</friendlyName><manufacturer>NETGEAR, Inc.</manufacturer>"
    "<modelName>R7000</modelName><modelNumber/>"
    "<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType></service></serviceList>"
    "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>"
    "<manufacturer>Embedded Maker</manufacturer><modelName>WAN</modelName></device></deviceList>"
    "</device></root>";

upnp_description parse(const std::string& s) {
  upnp_description d;
  parse_upnp_description({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}, d);
  return d;
}

struct collect : fact_sink {
  std::vector<fact> facts;
  void add(fact f) override { facts.push_back(std::move(f)); }
  std::string get(const std::string& field) const {
    for (const auto& f : facts) {
      if (f.field == field) return f.value;
    }
    return "<none>";
  }
};

}  // namespace

TEST(Upnp, EveryPrefixIsTruncatedOrNotUpnpAndKeepsOnlyWholeValues) {
  // The root device is whole once its end tag (or its service or device
  // list, which follow its own elements) has been read.
  const std::size_t hue_whole = hue_bridge.rfind("</device>") + 9;
  const std::size_t gateway_whole = gateway.find("<serviceList>") + 13;
  for (const auto& [doc, whole] : {std::pair{&hue_bridge, hue_whole}, std::pair{&gateway, gateway_whole}}) {
    for (std::size_t n = 0; n < doc->size(); ++n) {
      const std::string cut = doc->substr(0, n);
      const auto d = parse(cut);
      if (n < whole) {
        ASSERT_NE(d.error, upnp_error::none) << n;
      } else {
        ASSERT_EQ(d.error, upnp_error::none) << n;
      }
      // A value kept from a cut document is whole: its end tag was read.
      for (const auto v : {d.device_type, d.friendly_name, d.manufacturer, d.model_name, d.model_number}) {
        if (v.empty()) continue;
        const std::size_t at = static_cast<std::size_t>(v.data() - cut.data()) + v.size();
        ASSERT_LT(at, cut.size()) << n;
        ASSERT_EQ(cut[at], '<') << n;
      }
    }
    EXPECT_EQ(parse(*doc).error, upnp_error::none);
  }
  // Cut just before modelName's end: what came before is kept.
  const auto d = parse(hue_bridge.substr(0, hue_bridge.find("2015</modelName>")));
  EXPECT_EQ(d.error, upnp_error::truncated);
  EXPECT_EQ(d.manufacturer, "Signify");
  EXPECT_TRUE(d.model_name.empty());
}

TEST(Upnp, HueBridgeDescription) {
  const auto d = parse(hue_bridge);
  EXPECT_EQ(d.device_type, "urn:schemas-upnp-org:device:Basic:1");
  EXPECT_EQ(d.friendly_name, "Philips hue (192.168.1.141)");
  EXPECT_EQ(d.manufacturer, "Signify");
  EXPECT_EQ(d.model_name, "Philips hue bridge 2015");
  EXPECT_EQ(d.model_number, "BSB002");
  EXPECT_EQ(d.udn, "uuid:2f402f80-da50-11e1-9b23-00178836b07f");
  collect c;
  packet_view pv;
  upnp_facts(d, pv, c);
  EXPECT_EQ(c.get("upnp_device_type"), "urn:schemas-upnp-org:device:Basic:1");
  EXPECT_EQ(c.get("vendor"), "Signify");
  EXPECT_EQ(c.get("model"), "Philips hue bridge 2015");
  EXPECT_EQ(c.get("model_number"), "BSB002");
  for (const auto& f : c.facts) {
    EXPECT_EQ(f.source.str(), "upnp");
    EXPECT_EQ(f.about, subject::sender);
  }
}

TEST(Upnp, OnlyTheRootDeviceCounts) {
  const auto d = parse(gateway);
  EXPECT_EQ(d.error, upnp_error::none);
  EXPECT_EQ(d.device_type, "urn:schemas-upnp-org:device:InternetGatewayDevice:1");
  EXPECT_EQ(d.manufacturer, "NETGEAR, Inc.");
  EXPECT_EQ(d.model_name, "R7000");
  EXPECT_TRUE(d.model_number.empty());  // <modelNumber/>
}

TEST(Upnp, NotUpnp) {
  EXPECT_EQ(parse("").error, upnp_error::not_upnp);
  EXPECT_EQ(parse("<html><body>hi</body></html>").error, upnp_error::not_upnp);
  // Right element names outside the UPnP namespace (a SOAP body, an RSS feed).
  EXPECT_EQ(parse("<root xmlns=\"urn:example\"><device><manufacturer>X</manufacturer></device></root>").error,
            upnp_error::not_upnp);
  EXPECT_EQ(parse("<feed><device><manufacturer>X</manufacturer></device></feed>").error, upnp_error::not_upnp);
  collect c;
  packet_view pv;
  upnp_facts(parse("<html/>"), pv, c);
  EXPECT_TRUE(c.facts.empty());
}

TEST(Upnp, RandomMutationsStayInBounds) {
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    std::string s = round % 2 ? hue_bridge : gateway;
    for (int k = 0; k < 4; ++k) {
      const std::size_t at = rng() % s.size();
      const char pick[] = {'<', '>', '/', ':', ' ', '\0', 'x'};
      s[at] = pick[rng() % sizeof pick];
    }
    s.resize(rng() % (s.size() + 1));
    const auto d = parse(s);
    for (const auto v : {d.device_type, d.manufacturer, d.model_name, d.udn}) {
      if (v.empty()) continue;
      ASSERT_GE(v.data(), s.data());
      ASSERT_LE(v.data() + v.size(), s.data() + s.size());
    }
  }
}
