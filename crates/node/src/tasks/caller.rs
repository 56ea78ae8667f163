//! Who a task runs for: the caller of the API request that started it, carried through
//! the request (a task-local); across a forward to another node it travels sealed
//! (`crate::access::forward`) and the receiver scopes it again.

use std::future::Future;

/// The user of tasks nobody asked for (HA, the daemon itself), as in Proxmox.
pub const ROOT_USER: &str = "root@pam";

tokio::task_local! {
    static CALLER: String;
}

/// Runs `f` on behalf of `user`.
pub async fn as_caller<F: Future>(user: String, f: F) -> F::Output {
    CALLER.scope(user, f).await
}

/// The user the current request runs for (root when none is known).
pub fn current() -> String {
    CALLER
        .try_with(Clone::clone)
        .unwrap_or_else(|_| ROOT_USER.to_string())
}

/// Middleware: the rest of the request runs on behalf of the authenticated caller.
pub async fn scope_caller(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let user = req
        .extensions()
        .get::<brigade_access::Authid>()
        .map(ToString::to_string)
        .unwrap_or_else(|| ROOT_USER.to_string());
    as_caller(user, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_caller_is_known_inside_its_scope_only() {
        assert_eq!(current(), ROOT_USER);
        let inside = as_caller("alice@pve".into(), async { current() }).await;
        assert_eq!(inside, "alice@pve");
    }
}
