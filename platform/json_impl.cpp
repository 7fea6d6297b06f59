// Boost.JSON's compiled part, built once into the platform library (Debian
// ships the headers without libboost_json).
#include <boost/json/src.hpp>
