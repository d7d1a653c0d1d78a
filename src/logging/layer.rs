//! [`LineLayer`]: the `tracing` layer that collects an event's fields (the task's
//! [`LogContext`](super::LogContext) ids first, then its spans', then its own) and writes the
//! event as one line.

use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::fields::{FieldValue, Fields};
use super::line::Line;
use super::{Format, CONTEXT};

/// Formats every event as one line and writes it with one call, so lines from different
/// threads never interleave.
pub struct LineLayer {
    format: Format,
    out: Mutex<Box<dyn Write + Send>>,
}

impl LineLayer {
    pub fn new(format: Format, out: Box<dyn Write + Send>) -> Self {
        LineLayer {
            format,
            out: Mutex::new(out),
        }
    }

    fn write(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot be written cannot report it either.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        let _outside_any_context = CONTEXT.try_with(|context| {
            fields.set(
                "request_id",
                FieldValue::Text(context.request_id.to_string()),
            );
            fields.set("hook", FieldValue::Text(context.hook.clone()));
            if let Some(job_id) = &context.job_id {
                fields.set("job_id", FieldValue::Text(job_id.clone()));
            }
        });
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(context) = span.extensions().get::<Fields>() {
                    for (name, value) in &context.list {
                        fields.set(name, value.clone());
                    }
                }
            }
        }
        event.record(&mut fields);
        let line = Line {
            time: SystemTime::now(),
            level: *event.metadata().level(),
            fields,
        };
        self.write(&match self.format {
            Format::Text => line.text(),
            Format::Json => line.json(),
        });
    }
}
