//! SDN calls (`/cluster/sdn/...`, `/nodes/{node}/network`).

use brigade_api::ha::Removed;
use brigade_api::sdn::{
    NetworkRow, SdnApplied, SdnStatus, SubnetRequest, SubnetRow, VnetRequest, VnetRow, ZoneRequest,
    ZoneRow,
};

use crate::{Client, ClientError};

impl Client {
    pub async fn sdn_zones(&self) -> Result<Vec<ZoneRow>, ClientError> {
        self.get("/cluster/sdn/zones", &[]).await
    }

    pub async fn sdn_zone_add(&self, req: &ZoneRequest) -> Result<ZoneRow, ClientError> {
        self.post("/cluster/sdn/zones", req).await
    }

    pub async fn sdn_zone_set(
        &self,
        zone: &str,
        req: &ZoneRequest,
    ) -> Result<ZoneRow, ClientError> {
        self.put(&format!("/cluster/sdn/zones/{zone}"), req).await
    }

    pub async fn sdn_zone_remove(&self, zone: &str) -> Result<Removed, ClientError> {
        self.delete(&format!("/cluster/sdn/zones/{zone}")).await
    }

    pub async fn sdn_vnets(&self) -> Result<Vec<VnetRow>, ClientError> {
        self.get("/cluster/sdn/vnets", &[]).await
    }

    pub async fn sdn_vnet_add(&self, req: &VnetRequest) -> Result<VnetRow, ClientError> {
        self.post("/cluster/sdn/vnets", req).await
    }

    pub async fn sdn_vnet_set(
        &self,
        vnet: &str,
        req: &VnetRequest,
    ) -> Result<VnetRow, ClientError> {
        self.put(&format!("/cluster/sdn/vnets/{vnet}"), req).await
    }

    pub async fn sdn_vnet_remove(&self, vnet: &str) -> Result<Removed, ClientError> {
        self.delete(&format!("/cluster/sdn/vnets/{vnet}")).await
    }

    pub async fn sdn_subnets(&self) -> Result<Vec<SubnetRow>, ClientError> {
        self.get("/cluster/sdn/subnets", &[]).await
    }

    pub async fn sdn_subnet_add(&self, req: &SubnetRequest) -> Result<SubnetRow, ClientError> {
        self.post("/cluster/sdn/subnets", req).await
    }

    pub async fn sdn_subnet_set(
        &self,
        id: &str,
        req: &SubnetRequest,
    ) -> Result<SubnetRow, ClientError> {
        self.put(&format!("/cluster/sdn/subnets/{id}"), req).await
    }

    pub async fn sdn_subnet_remove(&self, id: &str) -> Result<Removed, ClientError> {
        self.delete(&format!("/cluster/sdn/subnets/{id}")).await
    }

    /// `sdn apply`: the pending configuration becomes the one every node runs.
    pub async fn sdn_apply(&self) -> Result<SdnApplied, ClientError> {
        self.put("/cluster/sdn", &serde_json::json!({})).await
    }

    pub async fn sdn_status(&self) -> Result<SdnStatus, ClientError> {
        self.get("/cluster/sdn/status", &[]).await
    }

    pub async fn node_network(&self, node: &str) -> Result<Vec<NetworkRow>, ClientError> {
        self.get(&format!("/nodes/{node}/network"), &[]).await
    }
}
