//! The seam between notifications and the Go template engine: a target's `subject` and `body`
//! are compiled once when the hooks are loaded and rendered with the job's JSON view
//! ([`super::Message::data`]) as `.`.
//!
//! The engine in `config::template` renders hooks files with nil data and cannot evaluate
//! `{{ .hook }}` yet; it is being rewritten to "compile once, render with a JSON-like value as
//! `.`". Until it is wired in through [`TemplateEngine`], [`LiteralOnly`] is the engine: text
//! without `{{` is used as written and anything with an action is refused at load, so nobody
//! gets a mail whose subject reads `{{ .hook }}`.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// Compiles template sources; the hooks loader holds one.
pub trait TemplateEngine: Send + Sync {
    /// Parses `source` once; the error says what is wrong and where.
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledTemplate>, String>;
}

/// A parsed template, rendered for each notification.
pub trait CompiledTemplate: Send + Sync + fmt::Debug {
    fn render(&self, data: &Value) -> Result<String, String>;
}

/// Plain text only: the engine until Go templates over job fields are available.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiteralOnly;

impl TemplateEngine for LiteralOnly {
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledTemplate>, String> {
        if source.contains("{{") {
            return Err(
                "template actions ({{ … }}) are not supported here yet: write plain text, or leave it out for the built-in text".to_string(),
            );
        }
        Ok(Arc::new(Literal(source.to_string())))
    }
}

#[derive(Debug)]
struct Literal(String);

impl CompiledTemplate for Literal {
    fn render(&self, _data: &Value) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_renders_as_written_and_actions_are_refused() {
        let t = LiteralOnly.compile("部署通知").unwrap();
        assert_eq!(t.render(&Value::Null).unwrap(), "部署通知");
        assert!(LiteralOnly.compile("{{ .hook }} done").is_err());
    }
}
