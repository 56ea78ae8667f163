//! Every endpoint of the API, one row each: method, route template (exactly as in its
//! `.route(...)`), summary, tag, parameters, body and answer. The document is built
//! from this table, and a test holds it to the routers' source.

use brigade_api::access::{
    AclEntry, AclUpdate, DomainEntry, GroupEntry, GroupRequest as AccessGroupRequest,
    PasswordChange, PermissionsMapSchema, PermissionsQuery, PoolEntry, PoolRequest, RoleEntry,
    RoleRequest, TfaAdd, TfaAdded, TfaEntry, Ticket, TicketRequest, TokenCreated, TokenEntry,
    TokenRequest, UserCreate, UserEntry, UserUpdate,
};
use brigade_api::backup::{
    BackupContent, ContentQuery, PruneRequest, PruneResult, RestoreRequest, VerifyRequest,
    VerifyResult, VzdumpRequest,
};
use brigade_api::backup_jobs::{BackupJobRequest, BackupJobRow};
use brigade_api::cfs::{Applied, DirEntryInfo};
use brigade_api::cluster::FormatUpgradeResult;
use brigade_api::cluster::{
    ClusterLogEntry, ClusterLogQuery, ClusterStatus, CreateRequest, CreateResult, DelnodeQuery,
    JoinApplication, JoinGrant, JoinRequest, JoinResult, JoinTokenResult, NextId, NextIdQuery,
    NodeRow, Version,
};
use brigade_api::fs::{
    DeleteRequest, FsFile, LockRequest, MkdirRequest, MountRequest, Mounted, PathQuery,
    RenameRequest, WriteRequest,
};
use brigade_api::fs_history::{FsHistory, FsRestoreRequest, HistoryQuery, Restored};
use brigade_api::guests::{
    ConsoleLog, ConsoleLogQuery, CreateGuestRequest, GuestConfigView, GuestCreated, GuestDestroyed,
    GuestLocation, GuestRow, GuestStatus, MigrateRequest, MigrateTargets, PowerRequest,
    SetConfigRequest,
};
use brigade_api::ha::{
    GroupRequest, HaMigrateRequest, HaMigrateRequested, HaStatus, MaintenanceRequest,
    MaintenanceSet, Removed, ResourceRequest,
};
use brigade_api::ha_rules::{RuleRequest, RuleRow};
use brigade_api::rrd::{RrdQuery, RrdRow};
use brigade_api::schema::{HaGroupSchema, HaResourceSchema};
use brigade_api::sdn::{
    NetworkRow, SdnApplied, SdnStatus, SubnetRequest, SubnetRow, VnetRequest, VnetRow, ZoneRequest,
    ZoneRow,
};
use brigade_api::storage::{StorageAddRequest, StorageEntry, StorageStatusRow};
use brigade_api::tasks::{
    ClusterTasks, TaskListQuery, TaskLogLine, TaskLogQuery, TaskStarted, TaskStatus, TaskStopping,
};

use super::shape::{self, list, of};

use super::endpoint::{delete, get, post, put};
pub use super::endpoint::{Access, Answer, Body, Endpoint, Method, Mount};

/// The path of this document under `/api2/json`.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The tags, in the document's order, with what they group.
pub const TAGS: [(&str, &str); 9] = [
    (
        "cluster",
        "The cluster's lifecycle: create, join, nodes, status, quorum device.",
    ),
    ("fs", "The replicated configuration tree (like /etc/pve)."),
    ("guests", "VMs and containers, on the node that holds each."),
    (
        "ha",
        "High availability: resources, groups, rules, status, maintenance.",
    ),
    (
        "storage",
        "Storages (storage.cfg) and their free space per node.",
    ),
    ("tasks", "Long-running operations (UPIDs)."),
    (
        "sdn",
        "Guest networks (Proxmox SDN): zones, vnets, subnets, apply and status; node bridges.",
    ),
    (
        "access",
        "Users, API tokens, groups, roles, ACLs, pools, passwords, second factors, realms, login.",
    ),
    (
        "node",
        "The answering node: version, metrics, mount, this document.",
    ),
];

/// Every endpoint of the API.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        // ---- cluster ----
        post("/cluster/create", "cluster", "Create a cluster with this node as its first member")
            .body(of::<CreateRequest>())
            .answers(of::<CreateResult>()),
        post("/cluster/join-token", "cluster", "Make a one-time join token pinning the CA fingerprint")
            .answers(of::<JoinTokenResult>()),
        post("/cluster/join", "cluster", "Make this node join the cluster of a member")
            .body(of::<JoinRequest>())
            .answers(of::<JoinResult>()),
        post("/cluster/join/request", "cluster", "A joining node's application (authenticated by its join token)")
            .public("the join token in the body authenticates the applicant")
            .body(of::<JoinApplication>())
            .answers(of::<JoinGrant>()),
        get("/cluster/nodes", "cluster", "List the cluster's nodes")
            .answers(list::<NodeRow>()),
        delete("/cluster/nodes/{name}", "cluster", "Remove a node from the cluster (power it off first)")
            .query(shape::query::<DelnodeQuery>()),
        get("/cluster/status", "cluster", "The answering node's view of the cluster (like pvecm status)")
            .answers(of::<ClusterStatus>()),
        post("/cluster/format/upgrade", "cluster", "Raise the cluster's format version to the highest every member speaks (asks each member first; refused while one is down or older)")
            .answers(of::<FormatUpgradeResult>()),
        get("/cluster/nextid", "cluster", "The lowest VMID no guest has (or, with vmid, whether that one is free), as Proxmox's")
            .query(shape::query::<NextIdQuery>())
            .answers(of::<NextId>()),
        get("/cluster/log", "cluster", "The newest events of the cluster log (joins, deaths, quorum and leader changes, clock alarms), oldest first, as brigade log prints them")
            .query(shape::query::<ClusterLogQuery>())
            .answers(list::<ClusterLogEntry>()),
        post("/qdevice/adopt", "cluster", "On a quorum device that belongs to no cluster: join a member's cluster")
            .public("a qdevice that belongs to no cluster has no tokens; the join token in the body authenticates the member")
            .body(of::<JoinRequest>())
            .answers(of::<JoinResult>()),
        delete("/cluster/qdevice", "cluster", "Remove the quorum device"),
        // ---- fs ----
        get("/fs/read", "fs", "Read a file of the tree")
            .query(shape::query::<PathQuery>())
            .answers(of::<FsFile>()),
        get("/fs/list", "fs", "List a directory of the tree")
            .query(shape::query::<PathQuery>())
            .answers(list::<DirEntryInfo>()),
        Endpoint {
            answer: Answer::Raw {
                media: "application/x-ndjson",
                description: "One JSON object per line, without end: first `{\"watching\":true}`, then a `Change` for every change at or below the path (`{\"lagged\": ...}` when this watcher fell behind).",
            },
            ..get("/fs/watch", "fs", "Stream the changes at or below a path").query(shape::query::<PathQuery>())
        },
        post("/fs/write", "fs", "Write a file (text or base64; compare-and-swap with expect_version)")
            .body(of::<WriteRequest>())
            .answers(of::<Applied>()),
        post("/fs/mkdir", "fs", "Make a directory")
            .body(of::<MkdirRequest>())
            .answers(of::<Applied>()),
        post("/fs/delete", "fs", "Delete a file or directory")
            .body(of::<DeleteRequest>())
            .answers(of::<Applied>()),
        post("/fs/rename", "fs", "Move a file or directory")
            .body(of::<RenameRequest>())
            .answers(of::<Applied>()),
        post("/fs/lock", "fs", "Take a lock on a path (with a lease)")
            .body(of::<LockRequest>())
            .answers(of::<Applied>()),
        post("/fs/unlock", "fs", "Release a lock")
            .body(of::<LockRequest>())
            .answers(of::<Applied>()),
        get("/fs/history", "fs", "The versions of a file: its content now and the previous ones kept (20 per file, 7 days), a deleted file's last one too")
            .query(shape::query::<HistoryQuery>())
            .answers(of::<FsHistory>()),
        post("/fs/restore", "fs", "Write a kept version of a file back as its new content (validated like a write)")
            .body(of::<FsRestoreRequest>())
            .answers(of::<Restored>()),
        // ---- guests ----
        Endpoint {
            answer: Answer::Raw {
                media: "text/event-stream",
                description: "Server-sent events without end: `hello` once, then `change` with `{\"seq\": N, \"changed\": [\"status\"|\"resources\"|\"ha\"|\"tasks\"]}` whenever what the caller may read there changes",
            },
            ..get("/cluster/events", "cluster", "Change notices for the web UI (server-sent events): re-read the sources named")
        },
        get("/cluster/resources", "guests", "Every guest of the cluster with its node and state")
            .answers(list::<GuestRow>()),
        get("/cluster/guests/{vmid}", "guests", "Where a guest lives")
            .answers(of::<GuestLocation>()),
        post("/nodes/{node}/{kind}", "guests", "Create a guest on a node")
            .body(of::<CreateGuestRequest>())
            .answers(of::<GuestCreated>()),
        delete("/nodes/{node}/{kind}/{vmid}", "guests", "Destroy a stopped guest and its volumes")
            .answers(of::<GuestDestroyed>()),
        get("/nodes/{node}/{kind}/{vmid}/status/current", "guests", "A guest's live status")
            .answers(of::<GuestStatus>()),
        post("/nodes/{node}/{kind}/{vmid}/status/{action}", "guests", "Start, stop, shut down or reboot a guest")
            .optional_body(of::<PowerRequest>())
            .answers(of::<GuestStatus>()),
        get("/nodes/{node}/{kind}/{vmid}/config", "guests", "A guest's config")
            .answers(of::<GuestConfigView>()),
        put("/nodes/{node}/{kind}/{vmid}/config", "guests", "Change a guest's config")
            .body(of::<SetConfigRequest>())
            .answers(of::<GuestConfigView>()),
        get("/nodes/{node}/{kind}/{vmid}/migrate", "guests", "Which nodes can take a guest now, and why the others cannot")
            .answers(of::<MigrateTargets>()),
        post("/nodes/{node}/{kind}/{vmid}/migrate", "guests", "Move a guest to another node (a task)")
            .body(of::<MigrateRequest>())
            .answers(of::<TaskStarted>()),
        get("/nodes/{node}/{kind}/{vmid}/console-log", "guests", "What a guest printed on its console since it started")
            .query(shape::query::<ConsoleLogQuery>())
            .answers(of::<ConsoleLog>()),
        Endpoint {
            answer: Answer::Upgrade(crate::api::console::CONSOLE_UPGRADE),
            ..get("/nodes/{node}/qemu/{vmid}/console", "guests", "Attach to a running VM's serial console (an HTTP upgrade)")
        },
        Endpoint {
            answer: Answer::Upgrade("websocket"),
            ..get("/nodes/{node}/qemu/{vmid}/console/ws", "guests", "A running VM's serial console over a websocket (the web UI's terminal; a browser's only from the node's own pages)")
        },
        get("/nodes/{node}/tasks/{upid}/status", "tasks", "A task's status, on the node that runs it")
            .answers(of::<TaskStatus>()),
        get("/nodes/{node}/tasks", "tasks", "A node's tasks, running first, then newest first (the caller's own, or all with Sys.Audit on the node)")
            .query(shape::query::<TaskListQuery>())
            .answers(list::<TaskStatus>()),
        get("/cluster/tasks", "tasks", "Every member's tasks, and which members could not be asked")
            .query(shape::query::<TaskListQuery>())
            .answers(of::<ClusterTasks>()),
        get("/nodes/{node}/tasks/{upid}", "tasks", "A task's status (as .../status)")
            .answers(of::<TaskStatus>()),
        delete("/nodes/{node}/tasks/{upid}", "tasks", "Ask a running task to stop (another user's needs Sys.Modify on the node)")
            .answers(of::<TaskStopping>()),
        get("/nodes/{node}/tasks/{upid}/log", "tasks", "Lines of a task's log")
            .query(shape::query::<TaskLogQuery>())
            .answers(list::<TaskLogLine>()),
        // ---- access ----
        post("/access/ticket", "access", "Log in (or renew a ticket): the ticket, also set as the BrigadeAuthCookie cookie, and the CSRF token")
            .public("the login itself: the password (or a valid ticket) in the body authenticates the caller")
            .body(of::<TicketRequest>())
            .answers(of::<Ticket>()),
        get("/access/domains", "access", "The realms (what the login form offers)")
            .public("the login form lists the realms before anyone is logged in")
            .answers(list::<DomainEntry>()),
        get("/access/users", "access", "The users the caller may see")
            .answers(list::<UserEntry>()),
        post("/access/users", "access", "Add a user (Realm.AllocateUser on its realm, User.Modify on its groups)")
            .body(of::<UserCreate>())
            .answers(of::<UserEntry>()),
        get("/access/users/{userid}", "access", "One user (oneself, or with User.Modify or Sys.Audit)")
            .answers(of::<UserEntry>()),
        put("/access/users/{userid}", "access", "Change a user (User.Modify on its groups; root@pam cannot be disabled or given an expiry)")
            .body(of::<UserUpdate>())
            .answers(of::<UserEntry>()),
        delete("/access/users/{userid}", "access", "Remove a user, its tokens, ACL entries and second factors (never root@pam)"),
        get("/access/users/{userid}/token", "access", "A user's API tokens (metadata only)")
            .answers(list::<TokenEntry>()),
        get("/access/users/{userid}/token/{tokenid}", "access", "One API token's metadata")
            .answers(of::<TokenEntry>()),
        post("/access/users/{userid}/token/{tokenid}", "access", "Make an API token: its secret is shown once")
            .optional_body(of::<TokenRequest>())
            .answers(of::<TokenCreated>()),
        put("/access/users/{userid}/token/{tokenid}", "access", "Change an API token")
            .optional_body(of::<TokenRequest>())
            .answers(of::<TokenEntry>()),
        delete("/access/users/{userid}/token/{tokenid}", "access", "Remove an API token"),
        get("/access/groups", "access", "The groups")
            .answers(list::<GroupEntry>()),
        post("/access/groups", "access", "Add a group")
            .body(of::<AccessGroupRequest>())
            .answers(of::<GroupEntry>()),
        get("/access/groups/{groupid}", "access", "One group with its members")
            .answers(of::<GroupEntry>()),
        put("/access/groups/{groupid}", "access", "Change a group")
            .optional_body(of::<AccessGroupRequest>())
            .answers(of::<GroupEntry>()),
        delete("/access/groups/{groupid}", "access", "Remove a group"),
        get("/access/roles", "access", "The roles, built-in and custom")
            .answers(list::<RoleEntry>()),
        post("/access/roles", "access", "Add a role")
            .body(of::<RoleRequest>())
            .answers(of::<RoleEntry>()),
        get("/access/roles/{roleid}", "access", "One role")
            .answers(of::<RoleEntry>()),
        put("/access/roles/{roleid}", "access", "Change a custom role (built-in roles are read-only)")
            .optional_body(of::<RoleRequest>())
            .answers(of::<RoleEntry>()),
        delete("/access/roles/{roleid}", "access", "Remove a custom role"),
        get("/access/acl", "access", "The ACL entries the caller may see")
            .answers(list::<AclEntry>()),
        put("/access/acl", "access", "Set or remove roles on a path (Permissions.Modify there, or the object's Allocate privilege, and every privilege of the roles given)")
            .body(of::<AclUpdate>()),
        get("/pools", "access", "The resource pools the caller may see")
            .answers(list::<PoolEntry>()),
        post("/pools", "access", "Add a resource pool (Pool.Allocate on it)")
            .body(of::<PoolRequest>())
            .answers(of::<PoolEntry>()),
        get("/pools/{*poolid}", "access", "One resource pool with its members")
            .answers(of::<PoolEntry>()),
        put("/pools/{*poolid}", "access", "Add (or with delete, remove) a pool's guests and storages, or change its comment")
            .optional_body(of::<PoolRequest>())
            .answers(of::<PoolEntry>()),
        delete("/pools/{*poolid}", "access", "Remove an empty resource pool"),
        put("/access/password", "access", "Change a pve user's password (one's own, re-entering the current one; another's with Realm.AllocateUser and User.Modify)")
            .body(of::<PasswordChange>()),
        get("/access/tfa", "access", "The second factors of the users the caller may see (never secrets)")
            .answers(list::<TfaEntry>()),
        post("/access/tfa/{userid}", "access", "Add a TOTP factor (two calls) or make recovery codes")
            .body(of::<TfaAdd>())
            .answers(of::<TfaAdded>()),
        delete("/access/tfa/{userid}", "access", "Remove all of a user's second factors"),
        delete("/access/tfa/{userid}/{id}", "access", "Remove one second factor (`recovery` for the recovery codes)"),
        get("/access/permissions", "access", "Effective privileges per path, of the caller or (with Sys.Audit on /access) of another user or token")
            .query(shape::query::<PermissionsQuery>())
            .answers(of::<PermissionsMapSchema>()),
        // ---- ha ----
        get("/cluster/ha/resources", "ha", "List the HA resources")
            .answers(list::<HaResourceSchema>()),
        post("/cluster/ha/resources", "ha", "Put a guest under HA")
            .body(of::<ResourceRequest>())
            .answers(of::<HaResourceSchema>()),
        put("/cluster/ha/resources/{sid}", "ha", "Change an HA resource")
            .body(of::<ResourceRequest>())
            .answers(of::<HaResourceSchema>()),
        delete("/cluster/ha/resources/{sid}", "ha", "Take a guest out of HA")
            .answers(of::<Removed>()),
        post("/cluster/ha/resources/{sid}/migrate", "ha", "Ask HA to move a service to a node")
            .body(of::<HaMigrateRequest>())
            .answers(of::<HaMigrateRequested>()),
        get("/cluster/ha/groups", "ha", "List the HA groups (node-affinity rules in group form)")
            .answers(list::<HaGroupSchema>()),
        post("/cluster/ha/groups", "ha", "Add an HA group")
            .body(of::<GroupRequest>())
            .answers(of::<HaGroupSchema>()),
        delete("/cluster/ha/groups/{name}", "ha", "Remove an HA group")
            .answers(of::<Removed>()),
        get("/cluster/ha/status", "ha", "HA's state (like ha-manager status)")
            .answers(of::<HaStatus>()),
        get("/cluster/ha/rules", "ha", "List the HA rules with their state")
            .answers(list::<RuleRow>()),
        post("/cluster/ha/rules", "ha", "Add an HA rule")
            .body(of::<RuleRequest>())
            .answers(of::<RuleRow>()),
        get("/cluster/ha/rules/{rule}", "ha", "One HA rule with its state")
            .answers(of::<RuleRow>()),
        put("/cluster/ha/rules/{rule}", "ha", "Change an HA rule")
            .body(of::<RuleRequest>())
            .answers(of::<RuleRow>()),
        delete("/cluster/ha/rules/{rule}", "ha", "Remove an HA rule")
            .answers(of::<Removed>()),
        post("/nodes/{node}/maintenance", "ha", "Put a node in maintenance (its HA guests move away) or take it out")
            .body(of::<MaintenanceRequest>())
            .answers(of::<MaintenanceSet>()),
        // ---- sdn ----
        get("/cluster/sdn/zones", "sdn", "List the SDN zones (pending configuration)")
            .answers(list::<ZoneRow>()),
        post("/cluster/sdn/zones", "sdn", "Add a zone (simple, vlan or vxlan); pending until applied")
            .body(of::<ZoneRequest>())
            .answers(of::<ZoneRow>()),
        get("/cluster/sdn/zones/{zone}", "sdn", "One zone")
            .answers(of::<ZoneRow>()),
        put("/cluster/sdn/zones/{zone}", "sdn", "Change a zone; pending until applied")
            .body(of::<ZoneRequest>())
            .answers(of::<ZoneRow>()),
        delete("/cluster/sdn/zones/{zone}", "sdn", "Remove a zone no vnet uses")
            .answers(of::<Removed>()),
        get("/cluster/sdn/vnets", "sdn", "List the vnets (pending configuration)")
            .answers(list::<VnetRow>()),
        post("/cluster/sdn/vnets", "sdn", "Add a vnet (a bridge of its name on every node of its zone)")
            .body(of::<VnetRequest>())
            .answers(of::<VnetRow>()),
        get("/cluster/sdn/vnets/{vnet}", "sdn", "One vnet")
            .answers(of::<VnetRow>()),
        put("/cluster/sdn/vnets/{vnet}", "sdn", "Change a vnet; pending until applied")
            .body(of::<VnetRequest>())
            .answers(of::<VnetRow>()),
        delete("/cluster/sdn/vnets/{vnet}", "sdn", "Remove a vnet without subnets")
            .answers(of::<Removed>()),
        get("/cluster/sdn/subnets", "sdn", "List the subnets (pending configuration)")
            .answers(list::<SubnetRow>()),
        post("/cluster/sdn/subnets", "sdn", "Add a subnet to a vnet")
            .body(of::<SubnetRequest>())
            .answers(of::<SubnetRow>()),
        get("/cluster/sdn/subnets/{id}", "sdn", "One subnet")
            .answers(of::<SubnetRow>()),
        put("/cluster/sdn/subnets/{id}", "sdn", "Change a subnet's gateway, SNAT or DHCP range")
            .body(of::<SubnetRequest>())
            .answers(of::<SubnetRow>()),
        delete("/cluster/sdn/subnets/{id}", "sdn", "Remove a subnet")
            .answers(of::<Removed>()),
        put("/cluster/sdn", "sdn", "Apply: validate the pending configuration as a whole and record it for every node to run")
            .answers(of::<SdnApplied>()),
        get("/cluster/sdn/status", "sdn", "Every node's SDN state against the applied version")
            .answers(of::<SdnStatus>()),
        get("/nodes/{node}/network", "sdn", "A node's bridges: its network.cfg and the vnets deployed there")
            .answers(list::<NetworkRow>()),
        // ---- storage ----
        get("/storage", "storage", "List the storages of storage.cfg")
            .answers(list::<StorageEntry>()),
        post("/storage", "storage", "Add a dir storage")
            .body(of::<StorageAddRequest>())
            .answers(of::<StorageEntry>()),
        delete("/storage/{id}", "storage", "Remove a storage no guest uses")
            .answers(of::<Removed>()),
        get("/nodes/{node}/storage", "storage", "Every storage on a node with its free space")
            .answers(list::<StorageStatusRow>()),
        get("/nodes/{node}/rrddata", "node", "A node's graph history of a timeframe (cpu, mem, load, net, disk; sampled every 10 s), from its node")
            .query(shape::query::<RrdQuery>())
            .answers(list::<RrdRow>()),
        get("/nodes/{node}/{kind}/{vmid}/rrddata", "guests", "A guest's graph history of a timeframe, from the node that runs it")
            .query(shape::query::<RrdQuery>())
            .answers(list::<RrdRow>()),
        post("/nodes/{node}/vzdump", "storage", "Back up a guest to a backup storage (a task on the guest's node, like vzdump)")
            .body(of::<VzdumpRequest>())
            .answers(of::<TaskStarted>()),
        get("/nodes/{node}/storage/{storage}/content", "storage", "The backups on a backup storage (content=backup)")
            .query(shape::query::<ContentQuery>())
            .answers(list::<BackupContent>()),
        post("/nodes/{node}/qmrestore", "storage", "Restore a backup as a VM on that node (a task, like qmrestore)")
            .body(of::<RestoreRequest>())
            .answers(of::<TaskStarted>()),
        post("/nodes/{node}/storage/{storage}/verify", "storage", "Re-read a backup storage's chunks and check their hashes")
            .body(of::<VerifyRequest>())
            .answers(of::<VerifyResult>()),
        post("/nodes/{node}/storage/{storage}/prunebackups", "storage", "Apply keep-* retention to the backups, then optionally GC")
            .body(of::<PruneRequest>())
            .answers(of::<PruneResult>()),
        get("/cluster/backup", "storage", "The backup jobs of jobs.cfg with their next runs")
            .answers(list::<BackupJobRow>()),
        post("/cluster/backup", "storage", "Add a scheduled backup job (runs once per scheduled time cluster-wide)")
            .body(of::<BackupJobRequest>())
            .answers(of::<BackupJobRow>()),
        get("/cluster/backup/{id}", "storage", "A backup job with its recent runs")
            .answers(of::<BackupJobRow>()),
        put("/cluster/backup/{id}", "storage", "Change a backup job")
            .body(of::<BackupJobRequest>())
            .answers(of::<BackupJobRow>()),
        delete("/cluster/backup/{id}", "storage", "Remove a backup job")
            .answers(of::<Removed>()),
        post("/cluster/backup/{id}/run", "storage", "Run a backup job now: a vzdump task per guest on its node")
            .answers(list::<TaskStarted>()),
        // ---- node ----
        get("/version", "node", "brigade's version").answers(of::<Version>()),
        post("/local/mount", "node", "Mount (or unmount) the tree on the answering node's machine (FUSE)")
            .body(of::<MountRequest>())
            .answers(of::<Mounted>()),
        Endpoint {
            mount: Mount::Root,
            answer: Answer::Raw {
                media: "text/plain",
                description: "Prometheus text exposition of this node's metrics.",
            },
            ..get("/metrics", "node", "This node's metrics (Prometheus)")
        },
        Endpoint {
            answer: Answer::Document,
            ..get(OPENAPI_PATH, "node", "This OpenAPI document")
                .public("the document describes the API; it holds nothing secret")
        },
    ]
}
