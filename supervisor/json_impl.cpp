// Boost.JSON, compiled once for the supervisor (scaling.json, nic-check.py --json).
#include <boost/json/src.hpp>
