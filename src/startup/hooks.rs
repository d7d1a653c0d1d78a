//! The hooks served at start, by the start verdict: refused with every problem listed once,
//! or served with warnings logged (and, with `-nopanic`, none until a reload succeeds).

use anyhow::{bail, Result};

use hookrun::cli::ServeArgs;
use hookrun::config::template::SystemEnv;
use hookrun::config::verdict::{self, Checked, StartOptions, Verdict};
use hookrun::config::{self};

/// The hooks to serve at start, by the start verdict: a refusal ends the start with every
/// problem listed once; otherwise warnings (and, with `-nopanic`, the errors it starts
/// despite) are logged. The flag is false when, with `-nopanic`, no hooks could be loaded.
pub fn initial_hooks(args: &ServeArgs) -> Result<(config::HookSet, bool)> {
    let opts = StartOptions {
        load: args.load_options(),
        verbose: args.verbose,
        nopanic: args.nopanic,
    };
    let Checked { verdict, problems } = verdict::check(&args.sources(), &opts, &SystemEnv);
    if let Verdict::Refuse(refusal) = verdict {
        // The list goes to standard error once, with the reason; a log file gets it too, as
        // it is not where standard error goes.
        if args.logfile.0.is_some() {
            config::log_problems(&problems);
            tracing::error!(reason = %refusal, "not starting");
        }
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "{refusal}:\n  {}{}",
            list.join("\n  "),
            lenient_hint(args, &opts.load)
        );
    }
    config::log_problems(&problems);
    let (set, loaded) = match verdict {
        Verdict::Start(set) => (set, true),
        _ => {
            tracing::error!(
                "hooks could not be loaded; serving none until a reload succeeds (-nopanic)"
            );
            (config::HookSet::default(), false)
        }
    };
    for id in set.ids() {
        tracing::debug!(hook = id, "loaded hook");
    }
    hookrun::allocator::release_free_memory();
    Ok((set, loaded))
}

/// After a refused start: whether `-lenient` would start, and what it would do.
fn lenient_hint(args: &ServeArgs, opts: &config::LoadOptions) -> &'static str {
    if opts.lenient {
        return "";
    }
    let lenient = config::LoadOptions {
        lenient: true,
        ..opts.clone()
    };
    match config::load(&args.sources(), &lenient, &SystemEnv).set {
        Some(set) if !set.is_empty() || args.verbose => "\nadnanh/webhook would start with these files: -lenient starts too, serving each invalid hook the way it does (broken rules answer 500, the other hooks work)",
        _ => "",
    }
}
