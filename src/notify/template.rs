//! The seam between notifications and the Go template engine (`config::template`): a target's
//! `subject` and `body` are compiled once when the hooks are loaded and rendered with the job's
//! JSON view ([`super::Message::data`]) as `.` — `{{ .hook }}`, `{{ .status }}`,
//! `{{ .result.image_after }}`.
//!
//! Notification templates get Go's builtins only: `getenv`, `cat` and `credential` belong to
//! `-template` hooks files, which are rendered once at load; a message rendered for every job
//! must not read the process environment or files into a chat room. A render is bounded by
//! [`RENDER_LIMITS`], far below the hooks files' limits: a subject or body is a few kilobytes.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::config::template::{Functions, Limits, Template};

/// Compiles template sources; the hooks loader holds one.
pub trait TemplateEngine: Send + Sync {
    /// Parses `source` once; the error says what is wrong and where.
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledTemplate>, String>;
}

/// A parsed template, rendered for each notification.
pub trait CompiledTemplate: Send + Sync + fmt::Debug {
    fn render(&self, data: &Value) -> Result<String, String>;
}

/// Bounds on rendering one subject or body: 256 KiB of text, 100,000 steps.
pub const RENDER_LIMITS: Limits = Limits {
    max_bytes: 256 << 10,
    max_steps: 100_000,
};

/// Go's `text/template` with its builtins, over the job's fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoTemplates;

impl TemplateEngine for GoTemplates {
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledTemplate>, String> {
        let template = Template::compile(source, &Functions::Builtins)
            .map_err(|e| format!("template: {e}"))?;
        Ok(Arc::new(GoTemplate(template)))
    }
}

#[derive(Debug)]
struct GoTemplate(Template);

impl CompiledTemplate for GoTemplate {
    fn render(&self, data: &Value) -> Result<String, String> {
        self.0
            .render(data, &Functions::Builtins, &RENDER_LIMITS)
            .map(|r| r.text)
            .map_err(|e| format!("template: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_job_fields_with_go_syntax() {
        let t = GoTemplates
            .compile(r#"{{ .hook }} {{ .status }}: {{ .result.image_before }} → {{ .result.image_after }}{{ if .exit_code }} (exit {{ .exit_code }}){{ end }}"#)
            .unwrap();
        let data = json!({
            "hook": "deploy-web", "status": "failure", "exit_code": 3,
            "result": { "image_before": "nginx:1.26", "image_after": "nginx:1.27" },
        });
        assert_eq!(
            t.render(&data).unwrap(),
            "deploy-web failure: nginx:1.26 → nginx:1.27 (exit 3)"
        );
        assert_eq!(
            GoTemplates
                .compile("部署通知")
                .unwrap()
                .render(&data)
                .unwrap(),
            "部署通知"
        );
    }

    #[test]
    fn errors_name_the_position() {
        let e = GoTemplates.compile("{{ .hook ").unwrap_err();
        assert!(e.starts_with("template: line 1:"), "{e}");
        let e = GoTemplates.compile(r#"{{ getenv "HOME" }}"#).unwrap_err();
        assert!(e.contains(r#"function "getenv" not defined"#), "{e}");
        let t = GoTemplates.compile("{{ len .hook.x }}").unwrap();
        assert!(t.render(&json!({"hook": "a"})).is_err());
    }

    #[test]
    fn a_render_is_bounded() {
        let t = GoTemplates
            .compile("{{ range .a }}{{ range $.a }}{{ range $.a }}x{{ end }}{{ end }}{{ end }}")
            .unwrap();
        let a: Vec<u32> = (0..100).collect();
        let e = t.render(&json!({ "a": a })).unwrap_err();
        assert!(e.starts_with("template: line 1:"), "{e}");
    }
}
