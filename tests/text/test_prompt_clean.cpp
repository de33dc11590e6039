// clean_prompt / html_unescape unit tests. Expected strings were produced with CPython 3.11's
// html.unescape and the `regex` module's \s (Wan's tokenizers.py whitespace_clean), except the
// ftfy cases, which follow ftfy 6's uncurl_quotes / remove_control_chars.
#include <gtest/gtest.h>

#include "t2v/error.h"
#include "t2v/text/tokenizer.h"

using t2v::text::clean_prompt;
using t2v::text::html_unescape;

TEST(umt5CleanPrompt, EmptyAndWhitespaceOnly) {
  EXPECT_EQ(clean_prompt(""), "");
  EXPECT_EQ(clean_prompt("  \t\n "), "");
  EXPECT_EQ(clean_prompt("\u3000\u00a0\r\n"), "");
}

TEST(umt5CleanPrompt, CollapsesUnicodeWhitespace) {
  EXPECT_EQ(clean_prompt("a\u00a0\u00a0b\tc\r\nd\u2003e\u3000f\u200ag\u2028h\u202f"), "a b c d e f g h");
  EXPECT_EQ(clean_prompt("  A  cat \n\n walks\x0c\x0d "), "A cat walks");
  EXPECT_EQ(clean_prompt("x\u1680y\u205fz\u0085w\u2029v"), "x y z w v");
  // Zero-width space is not whitespace for Python.
  EXPECT_EQ(clean_prompt("\u200bzero\u200bwidth"), "\u200bzero\u200bwidth");
}

TEST(umt5CleanPrompt, HtmlEntitiesUnescapedTwice) {
  EXPECT_EQ(clean_prompt("a &amp; b"), "a & b");
  EXPECT_EQ(clean_prompt("&amp;amp;lt;"), "&lt;");  // two passes, not three
  EXPECT_EQ(clean_prompt("&lt;3 &gt; &quot;q&quot; &apos;a&apos;"), "<3 > \"q\" 'a'");
  EXPECT_EQ(clean_prompt("x&nbsp;&nbsp;y"), "x y");  // NBSP from the entity is whitespace too
  EXPECT_EQ(clean_prompt("  A dog &amp;amp; a cat&nbsp;&nbsp;play \t in   the snow &lt;3 \n\n"),
            "A dog & a cat play in the snow <3");
  EXPECT_EQ(clean_prompt("a &#10; b"), "a b");
}

TEST(umt5CleanPrompt, PythonHtmlUnescapeRules) {
  EXPECT_EQ(html_unescape("&#65;&#x42;&#X43;&#68"), "ABCD");
  EXPECT_EQ(html_unescape("&copy;2024 &copyx &eacute;t&eacute;"), "\u00a92024 \u00a9x \u00e9t\u00e9");
  EXPECT_EQ(html_unescape("&notin; &notit;"), "\u2209 \u00acit;");  // longest legacy prefix
  EXPECT_EQ(html_unescape("&unknown; & &; &#; &#x;"), "&unknown; & &; &#; &#x;");
  EXPECT_EQ(html_unescape("&#0; &#128; &#x81; &#xD800; &#1114112; &#1;x"), "\ufffd \u20ac \u0081 \ufffd \ufffd x");
  EXPECT_EQ(html_unescape("&hellip;&mdash;&euro;&trade;&lang;"), "\u2026\u2014\u20ac\u2122\u27e8");
  EXPECT_EQ(html_unescape("&AMP; &amp &ampx"), "& & &x");
  EXPECT_EQ(html_unescape("&#9999999999999999999999;"), "\ufffd");
  EXPECT_EQ(html_unescape("no entities"), "no entities");
  EXPECT_EQ(html_unescape("trailing &"), "trailing &");
}

TEST(umt5CleanPrompt, FtfySubset) {
  // uncurl_quotes
  EXPECT_EQ(clean_prompt("\u201chere\u2019s a test\u201d"), "\"here's a test\"");
  // remove_control_chars (tab/newline/CR/FF are kept and then collapsed)
  EXPECT_EQ(clean_prompt("a\x01\x1c\x7f\ufeffb"), "ab");
  EXPECT_EQ(clean_prompt("a\x0b b"), "a b");
}

TEST(umt5CleanPrompt, KeepsNonAsciiText) {
  EXPECT_EQ(clean_prompt("一只可爱的小猫在草地上奔跑，阳光明媚。"), "一只可爱的小猫在草地上奔跑，阳光明媚。");
  EXPECT_EQ(clean_prompt(" A fox \U0001F98A meets a \u9F98 dragon "), "A fox \U0001F98A meets a \u9F98 dragon");
}

TEST(umt5CleanPrompt, RejectsInvalidUtf8) {
  EXPECT_THROW(clean_prompt("bad \xff"), t2v::InputError);
  EXPECT_THROW(clean_prompt("truncated \xe4\xb8"), t2v::InputError);
  EXPECT_THROW(clean_prompt("overlong \xc0\xaf"), t2v::InputError);
  EXPECT_THROW(clean_prompt("surrogate \xed\xa0\x80"), t2v::InputError);
}
