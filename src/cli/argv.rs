//! The command line before clap reads it: Go-style `-flag` rewritten to `--flag` (both work, as
//! with the reference), `-help` answered with our own help, and an unknown flag or command
//! refused with the closest known name (`-prot` → "did you mean -port?"), where clap would take
//! `-prot` for the short flags `-p -r -o -t`.

use std::ffi::OsString;

use clap::Command;

use super::help;
use super::Stop;

/// Rewrites `args` (program name first) for clap, walking them as clap will: flags of the
/// command in effect (the server's, or a subcommand's once its name has been seen), a flag's
/// separate value taken as is, everything after `--` left alone. Returns them with how the
/// command in effect is invoked (`hookrun validate`), for clap's errors.
pub(super) fn prepare(
    root: &Command,
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, String), Stop> {
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let mut cmd = root;
    let mut path = root.get_name().to_string();
    let mut server_flags: Vec<String> = Vec::new();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        if text.len() > 1 && text.starts_with('-') {
            let (mut flag, takes_next) = flag(cmd, &path, &text)?;
            if std::ptr::eq(cmd, root) {
                server_flags.push(text.split('=').next().unwrap_or_default().to_string());
            }
            // Joined as `--flag=value`: clap would refuse a separate value starting with a dash
            // (`-urlprefix -x`), which Go's flag package takes.
            if takes_next {
                if let Some(value) = args.next() {
                    flag.push("=");
                    flag.push(value);
                }
            }
            out.push(flag);
            continue;
        }
        if std::ptr::eq(cmd, root) {
            // The server takes no arguments: a word is a command.
            if text == "help" {
                let topic = args.next().and_then(|t| t.into_string().ok());
                return Err(Stop::Help(help_on(root, topic.as_deref())?));
            }
            cmd = subcommand(root, &text)?;
            if !server_flags.is_empty() {
                return Err(Stop::Usage(format!(
                    "{path}: {} before {text}: {text} takes only its own flags, after its name\n{}",
                    server_flags.join(" "),
                    help::see_help(&format!("{path} {text}"))
                )));
            }
            path = format!("{path} {text}");
        }
        out.push(arg);
    }
    Ok((out, path))
}

/// One flag in clap's spelling, and whether the next argument is its value.
fn flag(cmd: &Command, path: &str, text: &str) -> Result<(OsString, bool), Stop> {
    let body = text.strip_prefix("--").unwrap_or(&text[1..]);
    let (name, value) = match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    };
    if matches!(name, "h" | "help") && value.is_none() {
        return Err(Stop::Help(help::render(cmd, path)));
    }
    let known = if name.chars().count() == 1 {
        let short = name.chars().next();
        cmd.get_arguments().find(|a| a.get_short() == short)
    } else {
        cmd.get_arguments().find(|a| a.get_long() == Some(name))
    };
    let Some(arg) = known.filter(|a| !a.is_positional()) else {
        return Err(Stop::Usage(unknown_flag(cmd, path, text, name)));
    };
    let takes_next =
        value.is_none() && arg.get_action().takes_values() && !arg.is_require_equals_set();
    let spelled = match arg.get_long() {
        Some(long) => match value {
            Some(value) => format!("--{long}={value}"),
            None => format!("--{long}"),
        },
        None => text.to_string(),
    };
    Ok((OsString::from(spelled), takes_next))
}

fn unknown_flag(cmd: &Command, path: &str, text: &str, name: &str) -> String {
    let longs: Vec<&str> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .collect();
    let hint = suggest(name.trim_start_matches('-'), &longs)
        .map(|s| format!(" (did you mean -{s}?)"))
        .unwrap_or_default();
    format!(
        "{path}: unknown flag {text}{hint}\n{}",
        help::see_help(path)
    )
}

/// The subcommand `name`, or a usage error naming the closest one.
fn subcommand<'a>(root: &'a Command, name: &str) -> Result<&'a Command, Stop> {
    if let Some(sub) = root.find_subcommand(name) {
        return Ok(sub);
    }
    let names: Vec<&str> = root.get_subcommands().map(Command::get_name).collect();
    let root_name = root.get_name();
    let hint = match suggest(name, &names) {
        Some(s) => format!(" (did you mean {s}?)"),
        None if looks_like_hooks_file(name) => {
            format!(" (to serve a hooks file, write {root_name} -hooks {name})")
        }
        None => String::new(),
    };
    Err(Stop::Usage(format!(
        "{root_name}: unknown command {name:?}{hint}\n{}",
        help::see_help(root_name)
    )))
}

/// `hookrun help [COMMAND]`.
fn help_on(root: &Command, topic: Option<&str>) -> Result<String, Stop> {
    let root_name = root.get_name();
    match topic {
        None => Ok(help::render(root, root_name)),
        Some(name) => {
            let sub = subcommand(root, name)?;
            Ok(help::render(sub, &format!("{root_name} {name}")))
        }
    }
}

fn looks_like_hooks_file(word: &str) -> bool {
    [".json", ".yaml", ".yml"]
        .iter()
        .any(|ext| word.to_ascii_lowercase().ends_with(ext))
        || std::path::Path::new(word).exists()
}

/// The known name `unknown` most likely misspells: one it starts (`-hot` → `-hotreload`), or
/// the nearest by edit distance when that distance is small for its length (`-prot` → `-port`;
/// `-v` suggests nothing rather than `-ip`).
pub(super) fn suggest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let unknown = unknown.to_ascii_lowercase();
    if unknown.len() >= 3 {
        let mut starting = known.iter().filter(|k| k.starts_with(&unknown));
        if let (Some(only), None) = (starting.next(), starting.next()) {
            return Some(only);
        }
    }
    known
        .iter()
        .map(|k| (crate::config::problem::edit_distance(&unknown, k), *k))
        .filter(|(d, _)| *d <= 2 && *d < unknown.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_or_prefixes() {
        let known = ["port", "ip", "hotreload", "hooks", "verbose", "version"];
        assert_eq!(suggest("prot", &known), Some("port"));
        assert_eq!(suggest("hot", &known), Some("hotreload"));
        assert_eq!(suggest("hook", &known), Some("hooks"));
        assert_eq!(suggest("verbos", &known), Some("verbose"));
        assert_eq!(suggest("v", &known), None);
        assert_eq!(suggest("p", &known), None);
        assert_eq!(suggest("banana", &known), None);
    }
}
