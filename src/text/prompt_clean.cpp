// Prompt cleaning of W21 wan/modules/tokenizers.py (basic_clean + whitespace_clean), with Python's
// html.unescape (CPython Lib/html/__init__.py) and str.strip / regex `\s` semantics. What replaces
// ftfy.fix_text is documented in t2v/text/tokenizer.h.
#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "t2v/error.h"
#include "t2v/text/tokenizer.h"

namespace t2v::text {
namespace {

struct Entity {
  const char* name;
  char32_t code;
  bool legacy;  // also valid without the trailing ';' (HTML5 legacy names)
};

// HTML 4 entity names plus &apos;, with their HTML5 values (Python's html.entities.html5).
constexpr Entity kEntities[] = {
    {"Aacute", 0x00C1, true}, {"aacute", 0x00E1, true}, {"Acirc", 0x00C2, true}, {"acirc", 0x00E2, true},
    {"acute", 0x00B4, true}, {"AElig", 0x00C6, true}, {"aelig", 0x00E6, true}, {"Agrave", 0x00C0, true},
    {"agrave", 0x00E0, true}, {"alefsym", 0x2135, false}, {"Alpha", 0x0391, false},
    {"alpha", 0x03B1, false}, {"amp", 0x0026, true}, {"and", 0x2227, false}, {"ang", 0x2220, false},
    {"apos", 0x0027, false}, {"Aring", 0x00C5, true}, {"aring", 0x00E5, true}, {"asymp", 0x2248, false},
    {"Atilde", 0x00C3, true}, {"atilde", 0x00E3, true}, {"Auml", 0x00C4, true}, {"auml", 0x00E4, true},
    {"bdquo", 0x201E, false}, {"Beta", 0x0392, false}, {"beta", 0x03B2, false}, {"brvbar", 0x00A6, true},
    {"bull", 0x2022, false}, {"cap", 0x2229, false}, {"Ccedil", 0x00C7, true}, {"ccedil", 0x00E7, true},
    {"cedil", 0x00B8, true}, {"cent", 0x00A2, true}, {"Chi", 0x03A7, false}, {"chi", 0x03C7, false},
    {"circ", 0x02C6, false}, {"clubs", 0x2663, false}, {"cong", 0x2245, false}, {"copy", 0x00A9, true},
    {"crarr", 0x21B5, false}, {"cup", 0x222A, false}, {"curren", 0x00A4, true}, {"Dagger", 0x2021, false},
    {"dagger", 0x2020, false}, {"dArr", 0x21D3, false}, {"darr", 0x2193, false}, {"deg", 0x00B0, true},
    {"Delta", 0x0394, false}, {"delta", 0x03B4, false}, {"diams", 0x2666, false}, {"divide", 0x00F7, true},
    {"Eacute", 0x00C9, true}, {"eacute", 0x00E9, true}, {"Ecirc", 0x00CA, true}, {"ecirc", 0x00EA, true},
    {"Egrave", 0x00C8, true}, {"egrave", 0x00E8, true}, {"empty", 0x2205, false}, {"emsp", 0x2003, false},
    {"ensp", 0x2002, false}, {"Epsilon", 0x0395, false}, {"epsilon", 0x03B5, false},
    {"equiv", 0x2261, false}, {"Eta", 0x0397, false}, {"eta", 0x03B7, false}, {"ETH", 0x00D0, true},
    {"eth", 0x00F0, true}, {"Euml", 0x00CB, true}, {"euml", 0x00EB, true}, {"euro", 0x20AC, false},
    {"exist", 0x2203, false}, {"fnof", 0x0192, false}, {"forall", 0x2200, false}, {"frac12", 0x00BD, true},
    {"frac14", 0x00BC, true}, {"frac34", 0x00BE, true}, {"frasl", 0x2044, false}, {"Gamma", 0x0393, false},
    {"gamma", 0x03B3, false}, {"ge", 0x2265, false}, {"gt", 0x003E, true}, {"hArr", 0x21D4, false},
    {"harr", 0x2194, false}, {"hearts", 0x2665, false}, {"hellip", 0x2026, false},
    {"Iacute", 0x00CD, true}, {"iacute", 0x00ED, true}, {"Icirc", 0x00CE, true}, {"icirc", 0x00EE, true},
    {"iexcl", 0x00A1, true}, {"Igrave", 0x00CC, true}, {"igrave", 0x00EC, true}, {"image", 0x2111, false},
    {"infin", 0x221E, false}, {"int", 0x222B, false}, {"Iota", 0x0399, false}, {"iota", 0x03B9, false},
    {"iquest", 0x00BF, true}, {"isin", 0x2208, false}, {"Iuml", 0x00CF, true}, {"iuml", 0x00EF, true},
    {"Kappa", 0x039A, false}, {"kappa", 0x03BA, false}, {"Lambda", 0x039B, false},
    {"lambda", 0x03BB, false}, {"lang", 0x27E8, false}, {"laquo", 0x00AB, true}, {"lArr", 0x21D0, false},
    {"larr", 0x2190, false}, {"lceil", 0x2308, false}, {"ldquo", 0x201C, false}, {"le", 0x2264, false},
    {"lfloor", 0x230A, false}, {"lowast", 0x2217, false}, {"loz", 0x25CA, false}, {"lrm", 0x200E, false},
    {"lsaquo", 0x2039, false}, {"lsquo", 0x2018, false}, {"lt", 0x003C, true}, {"macr", 0x00AF, true},
    {"mdash", 0x2014, false}, {"micro", 0x00B5, true}, {"middot", 0x00B7, true}, {"minus", 0x2212, false},
    {"Mu", 0x039C, false}, {"mu", 0x03BC, false}, {"nabla", 0x2207, false}, {"nbsp", 0x00A0, true},
    {"ndash", 0x2013, false}, {"ne", 0x2260, false}, {"ni", 0x220B, false}, {"not", 0x00AC, true},
    {"notin", 0x2209, false}, {"nsub", 0x2284, false}, {"Ntilde", 0x00D1, true}, {"ntilde", 0x00F1, true},
    {"Nu", 0x039D, false}, {"nu", 0x03BD, false}, {"Oacute", 0x00D3, true}, {"oacute", 0x00F3, true},
    {"Ocirc", 0x00D4, true}, {"ocirc", 0x00F4, true}, {"OElig", 0x0152, false}, {"oelig", 0x0153, false},
    {"Ograve", 0x00D2, true}, {"ograve", 0x00F2, true}, {"oline", 0x203E, false}, {"Omega", 0x03A9, false},
    {"omega", 0x03C9, false}, {"Omicron", 0x039F, false}, {"omicron", 0x03BF, false},
    {"oplus", 0x2295, false}, {"or", 0x2228, false}, {"ordf", 0x00AA, true}, {"ordm", 0x00BA, true},
    {"Oslash", 0x00D8, true}, {"oslash", 0x00F8, true}, {"Otilde", 0x00D5, true}, {"otilde", 0x00F5, true},
    {"otimes", 0x2297, false}, {"Ouml", 0x00D6, true}, {"ouml", 0x00F6, true}, {"para", 0x00B6, true},
    {"part", 0x2202, false}, {"permil", 0x2030, false}, {"perp", 0x22A5, false}, {"Phi", 0x03A6, false},
    {"phi", 0x03C6, false}, {"Pi", 0x03A0, false}, {"pi", 0x03C0, false}, {"piv", 0x03D6, false},
    {"plusmn", 0x00B1, true}, {"pound", 0x00A3, true}, {"Prime", 0x2033, false}, {"prime", 0x2032, false},
    {"prod", 0x220F, false}, {"prop", 0x221D, false}, {"Psi", 0x03A8, false}, {"psi", 0x03C8, false},
    {"quot", 0x0022, true}, {"radic", 0x221A, false}, {"rang", 0x27E9, false}, {"raquo", 0x00BB, true},
    {"rArr", 0x21D2, false}, {"rarr", 0x2192, false}, {"rceil", 0x2309, false}, {"rdquo", 0x201D, false},
    {"real", 0x211C, false}, {"reg", 0x00AE, true}, {"rfloor", 0x230B, false}, {"Rho", 0x03A1, false},
    {"rho", 0x03C1, false}, {"rlm", 0x200F, false}, {"rsaquo", 0x203A, false}, {"rsquo", 0x2019, false},
    {"sbquo", 0x201A, false}, {"Scaron", 0x0160, false}, {"scaron", 0x0161, false},
    {"sdot", 0x22C5, false}, {"sect", 0x00A7, true}, {"shy", 0x00AD, true}, {"Sigma", 0x03A3, false},
    {"sigma", 0x03C3, false}, {"sigmaf", 0x03C2, false}, {"sim", 0x223C, false}, {"spades", 0x2660, false},
    {"sub", 0x2282, false}, {"sube", 0x2286, false}, {"sum", 0x2211, false}, {"sup", 0x2283, false},
    {"sup1", 0x00B9, true}, {"sup2", 0x00B2, true}, {"sup3", 0x00B3, true}, {"supe", 0x2287, false},
    {"szlig", 0x00DF, true}, {"Tau", 0x03A4, false}, {"tau", 0x03C4, false}, {"there4", 0x2234, false},
    {"Theta", 0x0398, false}, {"theta", 0x03B8, false}, {"thetasym", 0x03D1, false},
    {"thinsp", 0x2009, false}, {"THORN", 0x00DE, true}, {"thorn", 0x00FE, true}, {"tilde", 0x02DC, false},
    {"times", 0x00D7, true}, {"trade", 0x2122, false}, {"Uacute", 0x00DA, true}, {"uacute", 0x00FA, true},
    {"uArr", 0x21D1, false}, {"uarr", 0x2191, false}, {"Ucirc", 0x00DB, true}, {"ucirc", 0x00FB, true},
    {"Ugrave", 0x00D9, true}, {"ugrave", 0x00F9, true}, {"uml", 0x00A8, true}, {"upsih", 0x03D2, false},
    {"Upsilon", 0x03A5, false}, {"upsilon", 0x03C5, false}, {"Uuml", 0x00DC, true}, {"uuml", 0x00FC, true},
    {"weierp", 0x2118, false}, {"Xi", 0x039E, false}, {"xi", 0x03BE, false}, {"Yacute", 0x00DD, true},
    {"yacute", 0x00FD, true}, {"yen", 0x00A5, true}, {"Yuml", 0x0178, false}, {"yuml", 0x00FF, true},
    {"Zeta", 0x0396, false}, {"zeta", 0x03B6, false}, {"zwj", 0x200D, false}, {"zwnj", 0x200C, false},
    // Upper-case legacy aliases that HTML5 also accepts.
    {"AMP", 0x26, true}, {"LT", 0x3C, true}, {"GT", 0x3E, true}, {"QUOT", 0x22, true}, {"COPY", 0xA9, true},
    {"REG", 0xAE, true}};

// Python html._invalid_charrefs for 0x80..0x9F: the windows-1252 reading of C1 controls
// (0 where CPython keeps the control character itself).
constexpr char32_t kWindows1252[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E,
    0x0178};

// Keys "name;" for every entity and "name" for the legacy ones, as in Python's html5 dict.
const std::unordered_map<std::u32string, char32_t>& entity_map() {
  static const std::unordered_map<std::u32string, char32_t> map = [] {
    std::unordered_map<std::u32string, char32_t> m;
    for (const auto& e : kEntities) {
      std::u32string name(e.name, e.name + std::char_traits<char>::length(e.name));
      if (e.legacy) m.emplace(name, e.code);
      m.emplace(name + U";", e.code);
    }
    return m;
  }();
  return map;
}

std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      throw InputError("prompt is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    }
    char32_t cp = len == 1 ? b0 : (b0 & (0x7F >> len));
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) throw InputError("prompt is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      throw InputError("prompt is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

std::string encode_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Python str.isspace() (used by str.strip()).
bool is_py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// `\s` of the `regex` module (Unicode White_Space): like isspace() but without U+001C..001F.
bool is_regex_space(char32_t c) { return is_py_space(c) && !(c >= 0x1C && c <= 0x1F); }

std::u32string strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_py_space(s[b])) ++b;
  while (e > b && is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// The two ftfy.fix_text steps we reproduce (see tokenizer.h): remove_control_chars, uncurl_quotes.
std::u32string ftfy_subset(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    const bool control = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
    if (control) continue;
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';
    if (c >= 0x201C && c <= 0x201F) c = U'"';
    out.push_back(c);
  }
  return out;
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'); }

// CPython html._replace_charref for a numeric reference.
std::u32string numeric_charref(uint64_t num) {
  if (num == 0) return U"\uFFFD";
  if (num == 0x0D) return U"\r";
  if (num >= 0x80 && num <= 0x9F) {
    const char32_t mapped = kWindows1252[num - 0x80];
    return std::u32string(1, mapped ? mapped : static_cast<char32_t>(num));
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  // html._invalid_codepoints (0x80..0x9F were handled above): dropped.
  if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || num == 0x7F ||
      (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
    return U"";
  }
  return std::u32string(1, static_cast<char32_t>(num));
}

std::u32string unescape(const std::u32string& s) {
  if (s.find(U'&') == std::u32string::npos) return s;
  const auto& entities = entity_map();
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != U'&' || i + 1 >= s.size()) {
      out.push_back(s[i++]);
      continue;
    }
    // Python: &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
    size_t j = i + 1;
    if (s[j] == U'#') {
      const bool hex = j + 1 < s.size() && (s[j + 1] == U'x' || s[j + 1] == U'X');
      size_t k = j + (hex ? 2 : 1);
      const size_t digits_begin = k;
      uint64_t num = 0;
      while (k < s.size() && (hex ? is_hex(s[k]) : is_digit(s[k]))) {
        const char32_t c = s[k];
        const uint64_t d = is_digit(c) ? c - U'0' : (c | 0x20) - U'a' + 10;
        num = std::min<uint64_t>(num * (hex ? 16 : 10) + d, uint64_t{1} << 40);  // saturate: > 0x10FFFF
        ++k;
      }
      if (k == digits_begin) {  // "&#" / "&#x" without digits: not a reference
        out.push_back(s[i++]);
        continue;
      }
      if (k < s.size() && s[k] == U';') ++k;
      out += numeric_charref(num);
      i = k;
      continue;
    }
    size_t k = j;
    auto name_char = [](char32_t c) {
      return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' && c != U'#' && c != U';';
    };
    while (k < s.size() && k - j < 32 && name_char(s[k])) ++k;
    if (k == j) {
      out.push_back(s[i++]);
      continue;
    }
    if (k < s.size() && s[k] == U';') ++k;
    const std::u32string name = s.substr(j, k - j);
    auto it = entities.find(name);
    if (it != entities.end()) {
      out.push_back(it->second);
    } else {
      // Longest prefix that is an entity name (only legacy names, which have no ';', can match).
      bool found = false;
      for (size_t x = name.size() - 1; x >= 2; --x) {
        auto p = entities.find(name.substr(0, x));
        if (p != entities.end()) {
          out.push_back(p->second);
          out += name.substr(x);
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back(U'&');
        out += name;
      }
    }
    i = k;
  }
  return out;
}

}  // namespace

std::string html_unescape(const std::string& text) { return encode_utf8(unescape(decode_utf8(text))); }

std::string clean_prompt(const std::string& text) {
  // basic_clean: ftfy.fix_text (subset), html.unescape twice, strip.
  std::u32string s = strip(unescape(unescape(ftfy_subset(decode_utf8(text)))));
  // whitespace_clean: re.sub(r'\s+', ' ', s).strip()
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (is_regex_space(s[i])) {
      out.push_back(U' ');
      while (i < s.size() && is_regex_space(s[i])) ++i;
    } else {
      out.push_back(s[i++]);
    }
  }
  return encode_utf8(strip(out));
}

}  // namespace t2v::text
