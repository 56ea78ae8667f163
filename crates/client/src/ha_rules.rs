//! HA rule calls (`/cluster/ha/rules`).

use brigade_api::ha_rules::{RuleRequest, RuleRow};
use serde_json::Value;

use crate::{Client, ClientError};

impl Client {
    pub async fn ha_rules(&self) -> Result<Vec<RuleRow>, ClientError> {
        self.get("/cluster/ha/rules", &[]).await
    }

    pub async fn ha_rule_add(&self, req: &RuleRequest) -> Result<RuleRow, ClientError> {
        self.post("/cluster/ha/rules", req).await
    }

    pub async fn ha_rule_set(&self, rule: &str, req: &RuleRequest) -> Result<RuleRow, ClientError> {
        self.send(
            self.request(reqwest::Method::PUT, &format!("/cluster/ha/rules/{rule}"))
                .json(req)
                .timeout(crate::REQUEST_TIMEOUT),
        )
        .await
    }

    pub async fn ha_rule_remove(&self, rule: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/cluster/ha/rules/{rule}")).await
    }
}
