#include "proxy/error_pages.hpp"

namespace sluice {

std::string_view error_page(unsigned status)
{
#define SLUICE_PAGE(code, text)                                                                          \
    case code:                                                                                           \
        return "<html>\r\n<head><title>" #code " " text "</title></head>\r\n<body>\r\n<center><h1>" #code \
               " " text "</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n";
    switch (status) {
        SLUICE_PAGE(300, "Multiple Choices")
        SLUICE_PAGE(301, "Moved Permanently")
        SLUICE_PAGE(302, "Found")
        SLUICE_PAGE(303, "See Other")
        SLUICE_PAGE(304, "Not Modified")
        SLUICE_PAGE(305, "Use Proxy")
        SLUICE_PAGE(307, "Temporary Redirect")
        SLUICE_PAGE(308, "Permanent Redirect")
        SLUICE_PAGE(400, "Bad Request")
        SLUICE_PAGE(401, "Authorization Required")
        SLUICE_PAGE(403, "Forbidden")
        SLUICE_PAGE(404, "Not Found")
        SLUICE_PAGE(408, "Request Time-out")
        SLUICE_PAGE(413, "Request Entity Too Large")
        SLUICE_PAGE(414, "Request-URI Too Large")
        SLUICE_PAGE(431, "Request Header Fields Too Large")
        SLUICE_PAGE(500, "Internal Server Error")
        SLUICE_PAGE(501, "Not Implemented")
        SLUICE_PAGE(502, "Bad Gateway")
        SLUICE_PAGE(503, "Service Temporarily Unavailable")
        SLUICE_PAGE(504, "Gateway Time-out")
    default:
        return "";
    }
#undef SLUICE_PAGE
}

}  // namespace sluice
