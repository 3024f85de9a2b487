// The one translation unit that compiles Asio, Asio SSL and Beast (BOOST_*_SEPARATE_COMPILATION), so the
// files that use them stay quick to build.
#include <utility>  // Boost 1.74 Asio uses std::exchange without including <utility> under C++20

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
