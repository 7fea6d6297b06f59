// Boost.JSON, compiled once for the supervisor (scaling.json).
#include <boost/json/src.hpp>
