//! A small HTML builder: markup comes only from `&'static str` tag and attribute names, and
//! every string from data goes through [`escape`], so a page cannot be broken (or scripted) by
//! an image name, a tag or a package a registry handed us. No template engine: the pages are
//! few, and this costs nothing to build.

/// An HTML document or fragment being written.
#[derive(Default)]
pub struct Html {
    out: String,
}

/// Escapes `s` for text and for double- or single-quoted attribute values.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

impl Html {
    /// An empty document.
    pub fn new() -> Html {
        Html::default()
    }

    /// Escaped text.
    pub fn text(&mut self, s: &str) -> &mut Html {
        escape(s, &mut self.out);
        self
    }

    /// A number as text.
    pub fn num(&mut self, n: i64) -> &mut Html {
        self.out.push_str(&n.to_string());
        self
    }

    /// Markup written in the source code (never data).
    pub fn raw(&mut self, s: &'static str) -> &mut Html {
        self.out.push_str(s);
        self
    }

    fn start(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape(value, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// `<tag attrs>` … `</tag>` around what `body` writes.
    pub fn el(
        &mut self,
        tag: &'static str,
        attrs: &[(&'static str, &str)],
        body: impl FnOnce(&mut Html),
    ) -> &mut Html {
        self.start(tag, attrs);
        body(self);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn leaf(
        &mut self,
        tag: &'static str,
        attrs: &[(&'static str, &str)],
        text: &str,
    ) -> &mut Html {
        self.el(tag, attrs, |h| {
            h.text(text);
        })
    }

    /// An element without content (`<input …>`, `<meta …>`).
    pub fn void(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Html {
        self.start(tag, attrs);
        self
    }

    /// The markup written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_open_markup() {
        let mut h = Html::new();
        h.el("td", &[("title", "\"><script>x</script>")], |h| {
            h.text("<img src=x onerror=alert(1)>&");
        });
        let out = h.finish();
        assert_eq!(
            out,
            "<td title=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">&lt;img src=x onerror=alert(1)&gt;&amp;</td>"
        );
    }
}
