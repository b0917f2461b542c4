//! The debug page: every service, its methods, how often each was called, how often it
//! failed and how long it took.

use std::sync::Arc;

use crate::service::{Method, ServiceEntry};

/// Each service's methods, sorted by name.
fn sorted_methods(service: &ServiceEntry) -> Vec<(&str, &Method)> {
    let mut methods: Vec<_> = service
        .methods
        .iter()
        .map(|(name, method)| (name.as_str(), &**method))
        .collect();
    methods.sort_by_key(|(name, _)| *name);
    methods
}

/// The debug page as Go lays it out, a table of methods and call counts per service, with
/// errors and latency in columns after Go's.
pub(super) fn debug_html(services: &[Arc<ServiceEntry>]) -> String {
    let mut page = String::from("<html>\n<body>\n<title>Services</title>\n");
    for service in services {
        page.push_str(&format!(
            "<hr>\nService {}\n<hr>\n<table>\n<th align=center>Method</th><th align=center>Calls</th>\
             <th align=center>Errors</th><th align=center>Mean</th><th align=center>Longest</th>\n",
            html_escape(&service.name)
        ));
        for (name, method) in sorted_methods(service) {
            let (mean, longest) = method.latency();
            page.push_str(&format!(
                "<tr>\n<td align=left font=fixed>{}({}, {}) error</td>\n<td align=center>{}</td>\n\
                 <td align=center>{}</td>\n<td align=center>{mean:.1?}</td>\n\
                 <td align=center>{longest:.1?}</td>\n</tr>\n",
                html_escape(name),
                html_escape(method.arg_type),
                html_escape(method.reply_type),
                method.calls(),
                method.errors(),
            ));
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The debug page's data as JSON:
/// `{"services":[{"name":…,"methods":[{"name":…,"arg_type":…,"reply_type":…,"calls":…,
/// "errors":…,"mean_seconds":…,"longest_seconds":…}]}]}`.
pub(super) fn debug_json(services: &[Arc<ServiceEntry>]) -> String {
    let services: Vec<String> = services
        .iter()
        .map(|service| {
            let methods: Vec<String> = sorted_methods(service)
                .into_iter()
                .map(|(name, method)| {
                    let (mean, longest) = method.latency();
                    format!(
                        r#"{{"name":{},"arg_type":{},"reply_type":{},"calls":{},"errors":{},"mean_seconds":{},"longest_seconds":{}}}"#,
                        json_string(name),
                        json_string(method.arg_type),
                        json_string(method.reply_type),
                        method.calls(),
                        method.errors(),
                        mean.as_secs_f64(),
                        longest.as_secs_f64(),
                    )
                })
                .collect();
            format!(
                r#"{{"name":{},"methods":[{}]}}"#,
                json_string(&service.name),
                methods.join(",")
            )
        })
        .collect();
    format!(r#"{{"services":[{}]}}"#, services.join(","))
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("Vec<u8> & \"x\""),
            "Vec&lt;u8&gt; &amp; &#34;x&#34;"
        );
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }
}
