//! The check that the straight reading of a JSON hooks file (`stream::each_hook` through the
//! `unknown_keys` adapter) gives exactly what the exact reading (a tree per hook) gives: the
//! same hooks and the same problems, in order. Built for the unit tests and for the `hooks_read`
//! fuzz target only (`cfg(fuzzing)`), never into the server.

use std::path::Path;

use super::problem::Problems;
use super::stream::{each_element, each_hook};
use super::validate::Validator;

/// What a reading of `text` gives: the hooks and every problem, as text.
type Reading = (String, Vec<String>);

fn read(text: &str, lenient: bool, mail_server: bool, straight: bool) -> Option<Reading> {
    let mut problems = Problems::default();
    let mut validator =
        Validator::new(Path::new("hooks.json"), lenient, mail_server, &mut problems);
    let mut hooks = Vec::new();
    if straight {
        each_hook(text, |i, raw, seen| {
            hooks.extend(validator.read_hook(i, raw, seen))
        })?;
    } else {
        each_element(text, |i, item| hooks.extend(validator.hook(i, item)))?;
    }
    let shown = problems.list.iter().map(ToString::to_string).collect();
    Some((format!("{hooks:#?}"), shown))
}

/// Reads `text` both ways, with and without `-lenient` and a mail server, and panics where a
/// file the straight reading takes gives anything but what the tree gives, or where the tree
/// cannot read what reads straight. Returns whether the straight reading took it (the same
/// answer for every option: whether it does depends on the text only).
pub fn same_both_ways(text: &str) -> bool {
    let mut taken = None;
    for (lenient, mail_server) in [(false, false), (true, false), (false, true)] {
        let straight = read(text, lenient, mail_server, true);
        if let Some(straight) = &straight {
            let tree = read(text, lenient, mail_server, false)
                .expect("the tree reads what reads straight");
            assert_eq!(straight.1, tree.1, "problems of {text}");
            assert_eq!(straight.0, tree.0, "hooks of {text}");
        }
        assert!(taken.is_none_or(|t| t == straight.is_some()), "{text}");
        taken = Some(straight.is_some());
    }
    taken == Some(true)
}
