"""HTML to readable text."""

from __future__ import annotations

from applyflow.html import html_to_text, looks_like_html


def test_paragraphs_and_list_items_are_kept_scripts_and_styles_dropped():
    markup = (
        "<h2>About</h2><p>We build <b>ferries</b> &amp; ports.</p>"
        "<ul><li>Python</li><li><p>Go</p></li></ul>"
        "<script>steal()</script><style>p{color:red}</style>"
        '<p onclick="evil()">Apply <a href="x">here</a></p><!-- hidden -->'
    )
    assert html_to_text(markup) == (
        "About\n\nWe build ferries & ports.\n\n- Python\n- Go\n\nApply here"
    )


def test_greenhouse_entity_escaped_html_is_unescaped_first():
    escaped = (
        "&lt;p&gt;Hello&lt;/p&gt;"
        "&lt;ul&gt;&lt;li&gt;One&lt;/li&gt;&lt;li&gt;Two&lt;/li&gt;&lt;/ul&gt;"
    )
    assert looks_like_html(escaped)
    assert html_to_text(escaped) == "Hello\n\n- One\n- Two"


def test_plain_text_with_angle_brackets_is_not_mangled():
    assert not looks_like_html("3 < 5 and 7 > 2")
    assert html_to_text("3 < 5 and 7 > 2") == "3 < 5 and 7 > 2"
