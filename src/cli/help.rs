//! Help and usage errors, written the way the reference writes them: single-dash flags, one line
//! each, a default only where it means something; the reference's flags first, hookrun's own
//! grouped after them, then the environment variables they are read from. Rendered from clap's
//! model of the command line, so a new flag shows up without touching this file.

use std::fmt::Write as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

use super::WEBHOOK_FLAGS;

/// Lines are wrapped before this column.
const WIDTH: usize = 100;

/// The help of `cmd`, which is invoked as `path` (`hookrun`, `hookrun validate`).
pub(super) fn render(cmd: &Command, path: &str) -> String {
    let mut out = String::new();
    let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
    if cmd.get_subcommands().next().is_some() {
        let _ = writeln!(out, "{path} {}: {about}\n", env!("CARGO_PKG_VERSION"));
        usage_of_commands(&mut out, cmd, path);
    } else {
        let _ = writeln!(out, "Usage: {path} {}\n", usage_words(cmd));
        let long = cmd.get_long_about().map(ToString::to_string);
        let _ = writeln!(out, "{}\n", wrap(&long.unwrap_or(about), 0));
    }
    let flags: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set() && a.get_long() != Some("help"))
        .collect();
    let column = flags
        .iter()
        .map(|a| flag_words(a).chars().count() + 4)
        .filter(|w| *w <= 30)
        .max()
        .unwrap_or(20);
    for (heading, group) in groups(&flags) {
        let _ = writeln!(out, "{heading}:");
        for arg in group {
            out.push_str(&flag_line(arg, column));
        }
        out.push('\n');
    }
    environment(&mut out, &flags);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The last line of a usage error: where to read more.
pub(super) fn see_help(path: &str) -> String {
    format!("Run '{path} -help' for the flags.")
}

/// A clap error in the reference's words, naming flags with one dash (and the environment
/// variable, when a bad value came from there); `path` is how the command is invoked (`hookrun
/// validate`), `given` the arguments clap read.
pub(super) fn usage_error(err: &clap::Error, path: &str, given: &[std::ffi::OsString]) -> String {
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => flag_name(s),
        _ => String::new(),
    };
    let on_command_line = given.iter().any(|g| {
        let g = g.to_string_lossy();
        g.strip_prefix('-')
            .is_some_and(|long| long == arg || long.starts_with(&format!("{arg}=")))
    });
    let env = super::env_name(arg.trim_start_matches('-'));
    let arg = if !on_command_line && std::env::var_os(&env).is_some() {
        format!("{env} (-{})", arg.trim_start_matches('-'))
    } else {
        arg
    };
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let reason = std::error::Error::source(err)
        .map(ToString::to_string)
        .or_else(|| match err.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => Some(format!("use {}", valid.join(" or "))),
            _ => None,
        });
    let text = match err.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation if value.is_empty() => {
            format!("{arg} needs a value")
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => match reason {
            Some(reason) => format!("invalid value {value:?} for {arg}: {reason}"),
            None => format!("invalid value {value:?} for {arg}"),
        },
        ErrorKind::MissingRequiredArgument => match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(missing)) => {
                let names: Vec<String> = missing.iter().map(|m| flag_name(m)).collect();
                format!("missing {}", names.join(", "))
            }
            _ => "missing arguments".to_string(),
        },
        ErrorKind::ArgumentConflict => match err.get(ContextKind::PriorArg) {
            Some(ContextValue::String(prior)) => {
                format!("{arg} cannot be used with {}", flag_name(prior))
            }
            _ => format!("{arg} cannot be used here"),
        },
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").replace("'--", "'-")
        }
    };
    format!("{path}: {text}\n{}", see_help(path))
}

/// `--port <N>` → `-port`; `<PATH>...` → `PATH`.
fn flag_name(clap_form: &str) -> String {
    let first = clap_form.split([' ', '=', '[']).next().unwrap_or(clap_form);
    match first.strip_prefix("--") {
        Some(long) => format!("-{long}"),
        None => first
            .trim_matches(|c| c == '<' || c == '>' || c == '.')
            .to_string(),
    }
}

/// `hookrun [flags]` and a line per subcommand.
fn usage_of_commands(out: &mut String, cmd: &Command, path: &str) {
    let mut lines = vec![(
        format!("{path} [flags]"),
        "serve the hooks of -hooks".to_string(),
    )];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        lines.push((
            format!("{path} {} {}", sub.get_name(), usage_words(sub)),
            about,
        ));
    }
    lines.push((
        format!("{path} COMMAND -help"),
        "the flags of a command".to_string(),
    ));
    let width = lines.iter().map(|(u, _)| u.len()).max().unwrap_or(0) + 2;
    out.push_str("Usage:\n");
    for (usage, about) in lines {
        let _ = writeln!(out, "  {usage:<width$}{about}");
    }
    out.push('\n');
}

/// `[flags] PATH...` for a command's arguments.
fn usage_words(cmd: &Command) -> String {
    let mut words = vec!["[flags]".to_string()];
    for arg in cmd.get_arguments().filter(|a| a.is_positional()) {
        let name = value_name(arg).unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let word = if many { format!("{name}...") } else { name };
        words.push(if arg.is_required_set() {
            word
        } else {
            format!("[{word}]")
        });
    }
    words.join(" ")
}

/// The flags under their headings: the reference's first, in its (alphabetical) order, then
/// the others in the order they are declared.
fn groups<'a>(flags: &[&'a Arg]) -> Vec<(String, Vec<&'a Arg>)> {
    let mut groups: Vec<(String, Vec<&Arg>)> = Vec::new();
    for arg in flags {
        let heading = arg.get_help_heading().unwrap_or("Flags").to_string();
        match groups.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, list)) => list.push(arg),
            None => groups.push((heading, vec![arg])),
        }
    }
    for (heading, list) in &mut groups {
        if heading == WEBHOOK_FLAGS {
            list.sort_by_key(|a| a.get_long().unwrap_or_default());
        }
    }
    groups.sort_by_key(|(heading, _)| heading != WEBHOOK_FLAGS);
    groups
}

/// `-port N`, `-verbose`, `-version, -V`.
fn flag_words(arg: &Arg) -> String {
    let mut words = match (arg.get_long(), arg.get_short()) {
        (Some(long), Some(short)) => format!("-{long}, -{short}"),
        (Some(long), None) => format!("-{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    };
    if takes_value(arg) {
        let name = value_name(arg).unwrap_or_else(|| "VALUE".to_string());
        let _ = write!(words, " {name}");
    }
    words
}

/// Whether the flag is written with a value (`-port 9000`) rather than alone (`-verbose`, or
/// `-verbose=false`).
fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() != 0)
}

fn value_name(arg: &Arg) -> Option<String> {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map(ToString::to_string)
}

/// One flag: its words, its description, its default where it says something.
fn flag_line(arg: &Arg, column: usize) -> String {
    let words = flag_words(arg);
    let mut text = arg.get_help().map(ToString::to_string).unwrap_or_default();
    if let Some(default) = meaningful_default(arg) {
        let _ = write!(text, " (default {default})");
    }
    let pad = column.saturating_sub(words.chars().count() + 2).max(2);
    let head = format!("  {words}{}", " ".repeat(pad));
    let indent = head.chars().count();
    format!("{head}{}\n", wrap(&text, indent))
}

/// The default, unless it is empty, `false` or `0` (unset, off, no limit: the description
/// says what that means) or the flag hides it.
fn meaningful_default(arg: &Arg) -> Option<String> {
    if arg.is_hide_default_value_set() {
        return None;
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    match values.as_slice() {
        [] => None,
        [one] if one.is_empty() || one == "false" || one == "0" => None,
        _ => Some(values.join(", ")),
    }
}

/// The environment variables the flags are read from: the rule when every flag follows it,
/// otherwise each flag's.
fn environment(out: &mut String, flags: &[&Arg]) {
    let from_env: Vec<(&Arg, String)> = flags
        .iter()
        .filter_map(|a| Some((*a, a.get_env()?.to_string_lossy().into_owned())))
        .collect();
    if from_env.is_empty() {
        return;
    }
    out.push_str("Environment:\n");
    let by_rule = from_env
        .iter()
        .all(|(a, env)| a.get_long().is_some_and(|l| *env == super::env_name(l)));
    if by_rule {
        let mut examples = Vec::new();
        if let Some((arg, env, default)) = from_env
            .iter()
            .find_map(|(a, env)| Some((a, env, meaningful_default(a).filter(|_| takes_value(a))?)))
        {
            let flag = arg.get_long().unwrap_or_default();
            examples.push(format!("{env}={default} is -{flag} {default}"));
        }
        if let Some((arg, env)) = from_env.iter().find(|(a, _)| !takes_value(a)) {
            let flag = arg.get_long().unwrap_or_default();
            examples.push(format!("{env}=true is -{flag}"));
        }
        let but: Vec<String> = flags
            .iter()
            .filter(|a| a.get_env().is_none())
            .filter_map(|a| Some(format!("-{}", a.get_long()?)))
            .collect();
        let which = if but.is_empty() {
            "every flag above".to_string()
        } else {
            format!("every flag above but {}", but.join(" and "))
        };
        let line = format!(
            "{which} is also read from HOOKRUN_ and its name in capitals, dashes as \
             underscores ({}); the command line wins",
            examples.join(", ")
        );
        let _ = writeln!(out, "  {}", wrap(&line, 2));
    } else {
        for (arg, env) in from_env {
            let _ = writeln!(out, "  {env:<30}{}", flag_words(arg));
        }
    }
    let _ = writeln!(
        out,
        "  {}",
        wrap(
            &format!(
                "{}=FILTER replaces the level the flags set, e.g. {}=hookrun=debug",
                crate::logging::FILTER_ENV,
                crate::logging::FILTER_ENV
            ),
            2
        )
    );
    out.push('\n');
}

/// `text` wrapped at [`WIDTH`], continuation lines indented by `indent`.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut column = indent;
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str("\n\n");
            out.push_str(&" ".repeat(indent));
            column = indent;
        }
        let mut first = true;
        for word in paragraph.split_whitespace() {
            let len = word.chars().count();
            if !first && column + 1 + len > WIDTH {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
            } else if !first {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
            first = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short_and_indents() {
        let text = "word ".repeat(40);
        let wrapped = wrap(text.trim(), 10);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        assert!(wrapped
            .lines()
            .skip(1)
            .all(|l| l.starts_with("          word")));
    }

    #[test]
    fn clap_names_become_single_dash_flags() {
        assert_eq!(flag_name("--port <N>"), "-port");
        assert_eq!(flag_name("--verbose[=<VERBOSE>]"), "-verbose");
        assert_eq!(flag_name("<PATH>..."), "PATH");
    }
}
