//! One hooks file's contents to validated hooks: the text checked as UTF-8, a captainhook run
//! book turned into its hook, `-template` rendering, then the usual JSON list validated hook
//! by hook as it is parsed, and anything else read as one JSON or YAML document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::problem::Problems;
use super::template::{self, TemplateEnv};
use super::validate::Validator;
use super::{captainhook, stream, Hook, LoadOptions, Severity};

/// Reads, renders and validates one file; problems go to `problems`, the files its template
/// read to `files_read`.
pub fn load_file(
    file: &Path,
    opts: &LoadOptions,
    env: &dyn TemplateEnv,
    problems: &mut Problems,
    files_read: &mut Vec<PathBuf>,
) -> Vec<Arc<Hook>> {
    load_bytes(file, std::fs::read(file), opts, env, problems, files_read)
}

/// Renders and validates one file's contents as read (or the error reading it), adding the
/// files its template read to `files_read`. Each hook goes into its `Arc` as soon as it is
/// built: a list of 5,000 `Hook`s would need 4 MB more, for a moment, than their pointers.
pub(super) fn load_bytes(
    file: &Path,
    bytes: std::io::Result<Vec<u8>>,
    opts: &LoadOptions,
    env: &dyn TemplateEnv,
    problems: &mut Problems,
    files_read: &mut Vec<PathBuf>,
) -> Vec<Arc<Hook>> {
    let text = match read_text(bytes) {
        Ok(t) => t,
        Err(message) => return file_error(file, problems, message),
    };
    if let Some(runner) = &opts.captainhook {
        return load_run_book(file, &text, runner, opts, problems);
    }
    let text = if opts.template {
        match template::render_hooks_file(&text, env) {
            Ok(rendered) => {
                files_read.extend(rendered.files_read);
                rendered.text
            }
            Err(e) => return file_error(file, problems, format!("template: {e}")),
        }
    } else {
        text
    };
    let unrendered = !opts.template && has_template_actions(&text);
    // The usual file, a JSON list, is validated hook by hook as it is parsed; anything else is
    // read as a whole document (YAML, errors), and what the first reading said is dropped.
    let before = problems.list.len();
    if let Some(hooks) = load_json_list(file, &text, opts, unrendered, problems) {
        return hooks;
    }
    problems.list.truncate(before);
    load_document(file, &text, opts, unrendered, problems)
}

/// The text of a file as read, or why it cannot be read.
fn read_text(bytes: std::io::Result<Vec<u8>>) -> Result<String, String> {
    match bytes {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => Ok(t),
            Err(_) => Err("cannot read: stream did not contain valid UTF-8".to_string()),
        },
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// A problem of the whole file, which then gives no hooks.
fn file_error(file: &Path, problems: &mut Problems, message: String) -> Vec<Arc<Hook>> {
    problems.push(Severity::Error, file, None, "", message);
    Vec::new()
}

/// The hooks of `text` read as one whole document (YAML, or JSON that `load_json_list` could
/// not read), each validated from its tree.
fn load_document(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    unrendered: bool,
    problems: &mut Problems,
) -> Vec<Arc<Hook>> {
    let hint = if unrendered {
        " (the file holds template actions {{ … }}: start with -template to render it first)"
    } else {
        ""
    };
    let document = match parse_document(file, text) {
        Ok(v) => v,
        Err(e) => return file_error(file, problems, format!("{e}{hint}")),
    };
    let items = match document {
        Value::Null => return Vec::new(),
        Value::Array(items) => items,
        _ => {
            let message = format!("a hooks file must be a list of hooks{hint}");
            return file_error(file, problems, message);
        }
    };
    if unrendered {
        warn_unrendered(file, problems);
    }
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| validator.hook(i, item).map(Arc::new))
        .collect()
}

/// A file of a captainhook folder: the hook serving its run book, if it is one.
fn load_run_book(
    file: &Path,
    text: &str,
    runner: &captainhook::Captainhook,
    opts: &LoadOptions,
    problems: &mut Problems,
) -> Vec<Arc<Hook>> {
    let Some(id) = captainhook::hook_id(file) else {
        return Vec::new();
    };
    let book = match captainhook::RunBook::parse(text) {
        Ok(book) => book,
        Err(e) => {
            problems.push(Severity::Error, file, Some(&id), "", e);
            return Vec::new();
        }
    };
    let raw = captainhook::raw_hook(&id, text, &book, runner);
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    validator.hook(0, &raw).map(Arc::new).into_iter().collect()
}

/// The hooks of `text` when it is one JSON list, each validated as soon as it is parsed;
/// `None` otherwise (problems pushed meanwhile are then to be dropped). Each hook is read
/// straight into its raw form; a file that cannot be read so is read again with a tree per
/// hook, the exact reading that places every error.
fn load_json_list(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    unrendered: bool,
    problems: &mut Problems,
) -> Option<Vec<Arc<Hook>>> {
    if unrendered {
        warn_unrendered(file, problems);
    }
    let mut validator = Validator::new(file, opts.lenient, opts.mail_server, problems);
    let before = validator.problem_count();
    let mut hooks = Vec::new();
    let read = stream::each_hook(text, |i, raw, seen| {
        hooks.extend(validator.read_hook(i, raw, seen).map(Arc::new));
    });
    if read.is_some() {
        return Some(hooks);
    }
    // Something only a tree reads exactly (an error, a key written twice): start again with one
    // tree per hook, which reports it with its place.
    validator.drop_problems_from(before);
    hooks.clear();
    stream::each_element(text, |i, item| {
        hooks.extend(validator.hook(i, item).map(Arc::new));
    })?;
    Some(hooks)
}

fn warn_unrendered(file: &Path, problems: &mut Problems) {
    problems.push(
        Severity::Warning,
        file,
        None,
        "",
        "holds template actions {{ … }} that are read as written: start with -template to \
         render them",
    );
}

/// Whether `text` holds Go template actions (`{{ … }}`), which only `-template` renders.
fn has_template_actions(text: &str) -> bool {
    // memchr's SIMD search: str::find walks a big file byte by byte.
    let text = text.as_bytes();
    memchr::memmem::find(text, b"{{")
        .is_some_and(|at| memchr::memmem::find(&text[at..], b"}}").is_some())
}

/// JSON or YAML, as the reference accepts either whatever the extension (it parses both with a
/// YAML parser). The error shown is that of the parser the extension suggests.
fn parse_document(file: &Path, text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let json = serde_json::from_str::<Value>(text);
    if let Ok(v) = json {
        return Ok(v);
    }
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(yaml) => match json {
            Err(json) if is_json => Err(format!("invalid JSON: {json}")),
            _ => Err(format!("invalid YAML: {yaml}")),
        },
    }
}
