//! The `pam` realm: a Linux account's password checked through PAM (service `brigade`).
//!
//! Without /etc/pam.d/brigade PAM uses /etc/pam.d/other, which on Debian is the system's
//! common-auth and common-account (pam_unix): the machine's own accounts.

/// The PAM service name.
pub const PAM_SERVICE: &str = "brigade";

/// Whether `user` (a Linux account name) has `password`; blocking (PAM may sleep on failure).
pub fn check(user: &str, password: &str) -> bool {
    let mut auth = match pam::Authenticator::with_password(PAM_SERVICE) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("PAM service {PAM_SERVICE} cannot start: {e}");
            return false;
        }
    };
    auth.get_handler().set_credentials(user, password);
    match auth.authenticate() {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(user, "PAM refused: {e}");
            false
        }
    }
}
