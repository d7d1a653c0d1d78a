//! The plain-text and HTML bodies of a notification's [`Parts`]; everything a command wrote is
//! escaped for HTML and never becomes a link or a tag.

use std::fmt::Write as _;

use super::super::message::Status;
use super::Parts;

/// The plain-text body.
pub fn plain(p: &Parts) -> String {
    let mut out = String::new();
    // Free text (no facts) is the whole message: the subject line is not repeated.
    if !p.facts.is_empty() {
        let _ = writeln!(out, "{}\n", p.headline);
    }
    let width = p
        .facts
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in &p.facts {
        let _ = writeln!(
            out,
            "{:<width$}  {}",
            format!("{label}:"),
            indent_rest(value, width + 2)
        );
    }
    if let Some(text) = &p.text {
        if !p.facts.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    if let Some(output) = &p.output {
        let _ = writeln!(out, "\nOutput (last lines):");
        for line in output.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let _ = write!(out, "\n-- \nhookrun on {}\n", p.host);
    out
}

fn indent_rest(value: &str, by: usize) -> String {
    value.replace('\n', &format!("\n{}", " ".repeat(by)))
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

/// The banner colour for a status (GitHub's palette; readable as white text).
pub fn colour(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Success) => "#1a7f37",
        Some(Status::Failure) => "#cf222e",
        Some(Status::Timeout) => "#bc4c00",
        None => "#57606a",
    }
}

/// Fonts that render Chinese and Latin text well in every common mail client.
const FONTS: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI','PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC',Helvetica,Arial,sans-serif";
const MONO: &str = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono','Noto Sans Mono CJK SC',monospace";

/// The HTML alternative: a banner in the status colour, a table of facts, the message and the
/// output, with inline styles only (mail clients drop style sheets).
pub fn html(p: &Parts) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f8fa;font-family:{FONTS};font-size:14px;line-height:1.5;color:#1f2328\">\n\
         <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:720px;width:100%;border-collapse:collapse;background:#ffffff;border:1px solid #d0d7de\">\n\
         <tr><td style=\"padding:12px 16px;background:{};color:#ffffff;font-size:16px;font-weight:600\">{}</td></tr>\n<tr><td style=\"padding:12px 16px\">\n",
        html_escape(&p.subject),
        colour(p.status),
        html_escape(&p.headline),
    );
    if !p.facts.is_empty() {
        out.push_str("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">\n");
        for (label, value) in &p.facts {
            let _ = writeln!(
                out,
                "<tr><td style=\"padding:2px 16px 2px 0;color:#59636e;white-space:nowrap;vertical-align:top\">{}</td><td style=\"padding:2px 0;word-break:break-all\">{}</td></tr>",
                html_escape(label),
                html_escape(value)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(text) = &p.text {
        let _ = writeln!(
            out,
            "<p style=\"margin:12px 0 0;white-space:pre-wrap\">{}</p>",
            html_escape(text.trim_end())
        );
    }
    if let Some(output) = &p.output {
        let _ = writeln!(
            out,
            "<p style=\"margin:12px 0 4px;color:#59636e\">Output (last lines)</p>\n<pre style=\"margin:0;padding:8px;background:#f6f8fa;border:1px solid #d0d7de;font-family:{MONO};font-size:12px;white-space:pre-wrap;word-break:break-all\">{}</pre>",
            html_escape(output)
        );
    }
    let _ = write!(
        out,
        "</td></tr>\n<tr><td style=\"padding:8px 16px;border-top:1px solid #d0d7de;color:#59636e;font-size:12px\">hookrun on {}</td></tr>\n</table>\n</body></html>\n",
        html_escape(&p.host)
    );
    out
}
