# `cmake --install` and `cpack -G DEB`: the sensor in FHS places.
#   /usr/bin/tapsense-{supervisor,capture,aggregator,fingerprinter,uplink}
#       (the supervisor starts the stages from its own directory)
#   /usr/share/tapsense/           vendor tables, rules/ (found as ../share/tapsense
#                                  beside the binaries), nic-check.py, nic-bind.sh,
#                                  hugepages.sh, show-assets.py, scaling.pcap (the
#                                  start-up throughput measurement's sample)
#   /usr/lib/systemd/system/tapsense.service
#   /usr/sbin/tapsense-console, /usr/lib/systemd/system/tapsense-console.service
#                                  (the appliance console; enabled only by the image)
#   /etc/tapsense/tapsense.toml    (a conffile)
#   /usr/share/doc/tapsense/       README.md, ARCHITECTURE.md
include(GNUInstallDirs)
install(TARGETS tapsense-supervisor tapsense-capture tapsense-aggregator tapsense-fingerprinter tapsense-uplink
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/fingerprinter/data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tapsense)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/nic-check.py ${PROJECT_SOURCE_DIR}/deploy/nic-bind.sh
                 ${PROJECT_SOURCE_DIR}/deploy/hugepages.sh ${PROJECT_SOURCE_DIR}/deploy/show-assets.py
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tapsense)
if(TARGET scaling_sample)
  install(FILES ${CMAKE_BINARY_DIR}/sample/scaling.pcap DESTINATION ${CMAKE_INSTALL_DATADIR}/tapsense)
endif()
# The appliance console (whiptail menu on tty1 of the appliance image).
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/appliance/tapsense-console DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/deploy/appliance/tapsense-console.service DESTINATION lib/systemd/system)
# systemd's unit directory under the prefix (/usr/lib/systemd/system).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/tapsense.service DESTINATION lib/systemd/system)
# /etc whatever the prefix (the unit reads /etc/tapsense/tapsense.toml).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/tapsense.toml DESTINATION /etc/tapsense)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/ARCHITECTURE.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME tapsense)
set(CPACK_PACKAGE_VENDOR "tapsense")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "passive network sensor: asset inventory from SPAN/TAP traffic")
set(CPACK_PACKAGE_CONTACT "tapsense maintainers <tapsense@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Shared libraries (ZeroMQ, Cap'n Proto, libpcap, and what DPDK's drivers use:
# capture links DPDK itself statically) from dpkg-shlibdeps; the rest is what
# the sensor reads or runs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "p0f, ieee-data, python3, adduser, systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dpdk")
# The appliance console draws with whiptail.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "whiptail")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
