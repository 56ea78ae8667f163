//! The API's authentication scheme: `Authorization: BrigadeToken user@realm!name=secret`.

/// The scheme of the `Authorization` header.
pub const AUTH_SCHEME: &str = "BrigadeToken";

/// The `Authorization` header value for an API token written `user@realm!name=secret`.
pub fn authorization(token: &str) -> String {
    format!("{AUTH_SCHEME} {token}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_names_the_scheme_then_the_token() {
        assert_eq!(
            super::authorization("root@pam!root=abc"),
            "BrigadeToken root@pam!root=abc"
        );
    }
}
