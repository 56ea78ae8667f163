//! Access administration calls (`/access/...`, `/pools`): users, tokens, groups, roles,
//! ACLs, pools, passwords, second factors, realms and effective permissions.

use brigade_api::access::{
    AclEntry, AclUpdate, DomainEntry, GroupEntry, GroupRequest, PasswordChange, PermissionsMap,
    PoolEntry, PoolRequest, RoleEntry, RoleRequest, TfaAdd, TfaAdded, TfaEntry, TokenCreated,
    TokenEntry, TokenRequest, UserCreate, UserEntry, UserUpdate,
};

use crate::{Client, ClientError};

impl Client {
    // ---- users ----

    pub async fn users(&self) -> Result<Vec<UserEntry>, ClientError> {
        self.get("/access/users", &[]).await
    }

    pub async fn user(&self, userid: &str) -> Result<UserEntry, ClientError> {
        self.get(&format!("/access/users/{userid}"), &[]).await
    }

    pub async fn user_create(&self, req: &UserCreate) -> Result<UserEntry, ClientError> {
        self.post("/access/users", req).await
    }

    pub async fn user_update(
        &self,
        userid: &str,
        req: &UserUpdate,
    ) -> Result<UserEntry, ClientError> {
        self.put(&format!("/access/users/{userid}"), req).await
    }

    pub async fn user_delete(&self, userid: &str) -> Result<(), ClientError> {
        self.delete(&format!("/access/users/{userid}")).await
    }

    pub async fn password_change(&self, req: &PasswordChange) -> Result<(), ClientError> {
        self.put("/access/password", req).await
    }

    // ---- tokens ----

    pub async fn tokens(&self, userid: &str) -> Result<Vec<TokenEntry>, ClientError> {
        self.get(&format!("/access/users/{userid}/token"), &[])
            .await
    }

    pub async fn token(&self, userid: &str, tokenid: &str) -> Result<TokenEntry, ClientError> {
        self.get(&format!("/access/users/{userid}/token/{tokenid}"), &[])
            .await
    }

    /// Creates a token; the answer's `value` is its secret, shown this once.
    pub async fn token_create(
        &self,
        userid: &str,
        tokenid: &str,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ClientError> {
        self.post(&format!("/access/users/{userid}/token/{tokenid}"), req)
            .await
    }

    pub async fn token_update(
        &self,
        userid: &str,
        tokenid: &str,
        req: &TokenRequest,
    ) -> Result<TokenEntry, ClientError> {
        self.put(&format!("/access/users/{userid}/token/{tokenid}"), req)
            .await
    }

    pub async fn token_delete(&self, userid: &str, tokenid: &str) -> Result<(), ClientError> {
        self.delete(&format!("/access/users/{userid}/token/{tokenid}"))
            .await
    }

    // ---- groups ----

    pub async fn groups(&self) -> Result<Vec<GroupEntry>, ClientError> {
        self.get("/access/groups", &[]).await
    }

    pub async fn group(&self, groupid: &str) -> Result<GroupEntry, ClientError> {
        self.get(&format!("/access/groups/{groupid}"), &[]).await
    }

    pub async fn group_create(&self, req: &GroupRequest) -> Result<GroupEntry, ClientError> {
        self.post("/access/groups", req).await
    }

    pub async fn group_update(
        &self,
        groupid: &str,
        req: &GroupRequest,
    ) -> Result<GroupEntry, ClientError> {
        self.put(&format!("/access/groups/{groupid}"), req).await
    }

    pub async fn group_delete(&self, groupid: &str) -> Result<(), ClientError> {
        self.delete(&format!("/access/groups/{groupid}")).await
    }

    // ---- roles ----

    pub async fn roles(&self) -> Result<Vec<RoleEntry>, ClientError> {
        self.get("/access/roles", &[]).await
    }

    pub async fn role(&self, roleid: &str) -> Result<RoleEntry, ClientError> {
        self.get(&format!("/access/roles/{roleid}"), &[]).await
    }

    pub async fn role_create(&self, req: &RoleRequest) -> Result<RoleEntry, ClientError> {
        self.post("/access/roles", req).await
    }

    pub async fn role_update(
        &self,
        roleid: &str,
        req: &RoleRequest,
    ) -> Result<RoleEntry, ClientError> {
        self.put(&format!("/access/roles/{roleid}"), req).await
    }

    pub async fn role_delete(&self, roleid: &str) -> Result<(), ClientError> {
        self.delete(&format!("/access/roles/{roleid}")).await
    }

    // ---- ACLs ----

    pub async fn acl(&self) -> Result<Vec<AclEntry>, ClientError> {
        self.get("/access/acl", &[]).await
    }

    pub async fn acl_update(&self, req: &AclUpdate) -> Result<(), ClientError> {
        self.put("/access/acl", req).await
    }

    // ---- pools ----

    pub async fn pools(&self) -> Result<Vec<PoolEntry>, ClientError> {
        self.get("/pools", &[]).await
    }

    pub async fn pool(&self, poolid: &str) -> Result<PoolEntry, ClientError> {
        self.get(&format!("/pools/{poolid}"), &[]).await
    }

    pub async fn pool_create(&self, req: &PoolRequest) -> Result<PoolEntry, ClientError> {
        self.post("/pools", req).await
    }

    pub async fn pool_update(
        &self,
        poolid: &str,
        req: &PoolRequest,
    ) -> Result<PoolEntry, ClientError> {
        self.put(&format!("/pools/{poolid}"), req).await
    }

    pub async fn pool_delete(&self, poolid: &str) -> Result<(), ClientError> {
        self.delete(&format!("/pools/{poolid}")).await
    }

    // ---- second factors ----

    pub async fn tfa_list(&self) -> Result<Vec<TfaEntry>, ClientError> {
        self.get("/access/tfa", &[]).await
    }

    pub async fn tfa_add(&self, userid: &str, req: &TfaAdd) -> Result<TfaAdded, ClientError> {
        self.post(&format!("/access/tfa/{userid}"), req).await
    }

    /// Removes one factor (a TOTP id, or `recovery`), or all with `None`.
    pub async fn tfa_delete(&self, userid: &str, id: Option<&str>) -> Result<(), ClientError> {
        match id {
            Some(id) => self.delete(&format!("/access/tfa/{userid}/{id}")).await,
            None => self.delete(&format!("/access/tfa/{userid}")).await,
        }
    }

    // ---- realms and permissions ----

    pub async fn domains(&self) -> Result<Vec<DomainEntry>, ClientError> {
        self.get("/access/domains", &[]).await
    }

    /// The effective privileges per path of the caller, or of `userid` (a user or token).
    pub async fn permissions(
        &self,
        userid: Option<&str>,
        path: Option<&str>,
    ) -> Result<PermissionsMap, ClientError> {
        let mut q = Vec::new();
        if let Some(u) = userid {
            q.push(("userid", u));
        }
        if let Some(p) = path {
            q.push(("path", p));
        }
        self.get("/access/permissions", &q).await
    }
}
