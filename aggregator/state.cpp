#include "aggregator/state.h"

namespace tapsense::aggregator {

std::uint32_t pow2_capacity(std::uint32_t n) noexcept {
  std::uint32_t c = 1024;
  while (c < n && c < (1u << 30)) {
    c <<= 1;
  }
  return c;
}

std::size_t layout(state_header& h, std::uint32_t conns, std::uint32_t reports,
                   std::uint32_t assets, std::uint32_t bindings, std::uint32_t gateways,
                   std::uint32_t names) noexcept {
  auto align = [](std::size_t v) { return (v + 4095) & ~std::size_t{4095}; };
  h.conn_capacity = pow2_capacity(conns);
  h.report_capacity = pow2_capacity(reports);
  h.asset_capacity = pow2_capacity(assets);
  h.binding_capacity = pow2_capacity(bindings);
  h.gateway_capacity = pow2_capacity(gateways);
  h.name_capacity = pow2_capacity(names);
  std::size_t off = align(sizeof(state_header));
  h.conn_offset = off;
  off = align(off + conn_table::bytes_for(h.conn_capacity));
  h.report_offset = off;
  off = align(off + report_table::bytes_for(h.report_capacity));
  h.asset_offset = off;
  off = align(off + asset_table::bytes_for(h.asset_capacity));
  h.binding_offset = off;
  off = align(off + binding_table::bytes_for(h.binding_capacity));
  h.gateway_offset = off;
  off = align(off + gateway_table::bytes_for(h.gateway_capacity));
  h.name_offset = off;
  off = align(off + name_table::bytes_for(h.name_capacity));
  h.total_bytes = off;
  return off;
}

tables attach(state_header& h) noexcept {
  auto* base = reinterpret_cast<std::uint8_t*>(&h);
  return tables{
      conn_table(base + h.conn_offset, h.conn_capacity, &h.conn_size),
      report_table(base + h.report_offset, h.report_capacity, &h.report_size),
      asset_table(base + h.asset_offset, h.asset_capacity, &h.asset_size),
      binding_table(base + h.binding_offset, h.binding_capacity, &h.binding_size),
      gateway_table(base + h.gateway_offset, h.gateway_capacity, &h.gateway_size),
      name_table(base + h.name_offset, h.name_capacity, &h.name_size),
  };
}

}  // namespace tapsense::aggregator
