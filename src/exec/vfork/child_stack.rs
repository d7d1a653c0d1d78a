//! The stacks children run on between their clone and exec, kept for later starts.

/// Bytes of the child's stack: it runs the few system calls of `child_main` and nothing else
/// (no signal handler can run on it either). Small, since a child started by `clone3` keeps
/// its stack until it is reaped.
pub(super) const CHILD_STACK: usize = 16 * 1024;

/// Child stacks kept for later starts: as many as commands usually run at once on the bench's
/// loads; more are made when needed and freed after use.
const KEPT_STACKS: usize = 8;

/// A child's stack, taken from those earlier starts gave back (an allocation and a free per
/// command saved).
pub(super) struct ChildStack(Box<[std::mem::MaybeUninit<u8>]>);

fn kept_stacks() -> std::sync::MutexGuard<'static, Vec<Box<[std::mem::MaybeUninit<u8>]>>> {
    static KEPT: std::sync::Mutex<Vec<Box<[std::mem::MaybeUninit<u8>]>>> =
        std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChildStack {
    pub(super) fn take() -> ChildStack {
        // Not zeroed: the child writes before it reads, as any stack.
        let kept = kept_stacks().pop();
        ChildStack(kept.unwrap_or_else(|| Box::new_uninit_slice(CHILD_STACK)))
    }
}

impl std::ops::Deref for ChildStack {
    type Target = [std::mem::MaybeUninit<u8>];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildStack {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildStack {
    /// Given back once the child has exec'd or exited (reaped, or the `vfork` clone returned):
    /// no process runs on it any more.
    fn drop(&mut self) {
        let mut kept = kept_stacks();
        if kept.len() < KEPT_STACKS {
            kept.push(std::mem::take(&mut self.0));
        }
    }
}
