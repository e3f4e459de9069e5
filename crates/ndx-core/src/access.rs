//! Who is calling and what they may do. A [`Caller`] is the authenticated identity; the
//! capability types can only be minted by its checks, and every core service that touches
//! protected state takes one, so a handler that forgets a check does not compile.

use ndx_types::dictionary::DatasetSchema;
use ndx_types::registry::{Member, Role, System};

use crate::audit::{Actor, Audience};
use crate::error::Code;
use crate::error::{Error, Result};

/// An authenticated caller: a system of a member, with the roles of the key it used. Only
/// [`crate::Core::authenticate`] and [`crate::Core::local_caller`] make one.
#[derive(Debug, Clone)]
pub struct Caller {
    pub(crate) system: System,
    pub(crate) member: Member,
    pub(crate) key_id: String,
    pub(crate) roles: Vec<Role>,
    /// The request this caller makes, named in the audit events of what it does.
    pub(crate) request_id: String,
    /// The catalogue generation the caller was authenticated at: the rest of its request
    /// reads catalogue objects as of then (one generation read per request). `None` for a
    /// command-line caller, which may live long: its services read the generation afresh.
    pub(crate) generation: Option<u64>,
}

/// May admit members, register systems and issue keys.
#[derive(Debug)]
pub struct RegistryAdmin {
    pub(crate) actor: Actor,
    pub(crate) request_id: String,
}

/// May define data elements and code lists.
#[derive(Debug)]
pub struct DictionaryAdmin(());

/// May register or evolve the schema of a dataset owned by `owner`.
#[derive(Debug)]
pub struct DatasetDefine {
    pub(crate) owner: String,
}

/// May load records into one dataset, as one system.
#[derive(Debug)]
pub struct DatasetWrite {
    pub(crate) dataset: String,
    pub(crate) system: String,
    pub(crate) actor: Actor,
    pub(crate) request_id: String,
}

/// May read the owner's view of one dataset (current, history, as-of, list).
#[derive(Debug)]
pub struct DatasetRead {
    pub(crate) dataset: String,
    /// The schema the permission was decided on (its subject fields name the data subjects
    /// of what is read, for the audit event).
    pub(crate) schema: DatasetSchema,
    pub(crate) actor: Actor,
    pub(crate) request_id: String,
}

/// May read what one sharing agreement releases of one dataset, for one operation and purpose:
/// minted by [`crate::Core::exchange_access`] once the agreement, the purpose, the fields and
/// the sovereignty guard allow the request (and the quota has room).
#[derive(Debug)]
pub struct ExchangeRead {
    pub(crate) schema: DatasetSchema,
    pub(crate) agreement: ndx_types::exchange::Agreement,
    pub(crate) grant: ndx_types::exchange::Grant,
    pub(crate) operation: ndx_types::exchange::Operation,
    pub(crate) actor: Actor,
    pub(crate) request_id: String,
    /// Converts released codes into the lists the caller named (`Ndx-Code-Lists`).
    pub(crate) recode_out: Option<std::sync::Arc<ndx_types::codes::Recoder>>,
    /// Converts the caller's filter values into the dataset's lists.
    pub(crate) recode_in: Option<std::sync::Arc<ndx_types::codes::Recoder>>,
    /// The code list of each released coded field, as answered.
    pub(crate) answer_lists: Vec<ndx_types::codes::CodeListRef>,
}

impl ExchangeRead {
    /// The code lists the answer's coded values use (the `Ndx-Code-Lists` of the answer).
    pub fn code_lists(&self) -> &[ndx_types::codes::CodeListRef] {
        &self.answer_lists
    }
    /// The dataset.
    pub fn dataset(&self) -> &str {
        &self.schema.dataset
    }
    /// The agreement the request rests on.
    pub fn agreement(&self) -> &ndx_types::exchange::Agreement {
        &self.agreement
    }
    /// The fields that may leave, in schema order.
    pub fn fields(&self) -> &[String] {
        &self.grant.fields
    }
    /// The operation granted.
    pub fn operation(&self) -> ndx_types::exchange::Operation {
        self.operation
    }
}

/// May read audit log entries (auditors and operators).
#[derive(Debug)]
pub struct AuditRead {
    pub(crate) actor: Actor,
    pub(crate) request_id: String,
}

/// May read the accesses to one data subject's data: the citizen themself or an auditor.
#[derive(Debug)]
pub struct SubjectRead {
    pub(crate) citizen_id: String,
    pub(crate) actor: Option<Actor>,
    pub(crate) request_id: String,
}

impl DatasetWrite {
    /// The dataset this capability is for.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }
}

impl DatasetRead {
    /// The dataset this capability is for.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }
}

impl SubjectRead {
    /// A citizen reading their own accesses, proven by their token (see
    /// [`crate::audit::AuditKeys::citizen_token`]).
    pub(crate) fn citizen(citizen_id: String, request_id: String) -> Self {
        SubjectRead {
            citizen_id,
            actor: None,
            request_id,
        }
    }

    /// Whose accesses may be read.
    pub fn citizen_id(&self) -> &str {
        &self.citizen_id
    }
}

impl Caller {
    /// The calling system.
    pub fn system(&self) -> &System {
        &self.system
    }
    /// The member owning the system.
    pub fn member(&self) -> &Member {
        &self.member
    }
    /// The key id used (`local` for the CLI).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    /// Roles granted.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The same caller, making request `id` (named in its audit events).
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    /// The request this caller makes.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The audit identity of this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            member: self.member.code.clone(),
            system: self.system.code.clone(),
        }
    }

    /// Consumer systems use the exchange (request agreements, read under them).
    pub fn exchange_consumer(&self, what: &str) -> Result<()> {
        if self.has(Role::Consumer) {
            return Ok(());
        }
        Err(Error::of(
            Code::ConsumerRequired,
            format!(
                "{what} needs role \"consumer\"; key {:?} of system {:?} has {:?}",
                self.key_id,
                self.system.code,
                self.roles.iter().map(|r| r.name()).collect::<Vec<_>>()
            ),
        ))
    }

    /// Auditors and operators read audit log entries and any subject's accesses.
    pub fn audit_read(&self) -> Result<AuditRead> {
        if self.has(Role::Auditor) || self.has(Role::Operator) {
            return Ok(AuditRead {
                actor: self.actor(),
                request_id: self.request_id.clone(),
            });
        }
        Err(Error::of(
            Code::RoleRequired,
            format!(
                "reading the audit log needs role \"auditor\" or \"operator\"; key {:?} of \
                 system {:?} has {:?}",
                self.key_id,
                self.system.code,
                self.roles.iter().map(|r| r.name()).collect::<Vec<_>>()
            ),
        ))
    }

    /// Auditors read the accesses to any data subject's data.
    pub fn subject_read(&self, citizen_id: &str) -> Result<SubjectRead> {
        self.need(Role::Auditor, "reading a data subject's accesses")?;
        Ok(SubjectRead {
            citizen_id: citizen_id.to_owned(),
            actor: Some(self.actor()),
            request_id: self.request_id.clone(),
        })
    }

    /// Whether the key grants `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    fn need(&self, role: Role, what: &str) -> Result<()> {
        if self.has(role) {
            Ok(())
        } else {
            Err(Error::of(
                Code::RoleRequired,
                format!(
                    "{what} needs role {:?}; key {:?} of system {:?} has {:?}",
                    role.name(),
                    self.key_id,
                    self.system.code,
                    self.roles.iter().map(|r| r.name()).collect::<Vec<_>>()
                ),
            ))
        }
    }

    /// Operators administer the registry.
    pub fn registry_admin(&self) -> Result<RegistryAdmin> {
        self.need(Role::Operator, "administering the registry")?;
        Ok(RegistryAdmin {
            actor: self.actor(),
            request_id: self.request_id.clone(),
        })
    }

    /// Stewards (and operators) keep the dictionary.
    pub fn dictionary_admin(&self) -> Result<DictionaryAdmin> {
        if self.has(Role::Operator) {
            return Ok(DictionaryAdmin(()));
        }
        self.need(Role::Steward, "changing the data dictionary")?;
        Ok(DictionaryAdmin(()))
    }

    /// Whether the caller may define datasets at all (checked before reading a definition).
    pub fn may_define_datasets(&self) -> Result<()> {
        if self.has(Role::Steward) || self.has(Role::Operator) {
            return Ok(());
        }
        self.need(Role::Provider, "registering a dataset")
    }

    /// Stewards define any dataset; providers define their own member's datasets.
    pub fn dataset_define(&self, owner: &str) -> Result<DatasetDefine> {
        if self.has(Role::Steward) || self.has(Role::Operator) {
            return Ok(DatasetDefine {
                owner: owner.to_owned(),
            });
        }
        self.need(Role::Provider, "registering a dataset")?;
        if self.member.code != owner {
            return Err(Error::of(
                Code::NotOwner,
                format!(
                    "member {:?} may not define datasets owned by {:?}",
                    self.member.code, owner
                ),
            ));
        }
        Ok(DatasetDefine {
            owner: owner.to_owned(),
        })
    }

    /// Only a provider system of the owning member loads records.
    pub fn dataset_write(&self, schema: &DatasetSchema) -> Result<DatasetWrite> {
        self.need(Role::Provider, "loading records")?;
        if self.member.code != schema.owner {
            return Err(Error::of(
                Code::NotOwner,
                format!(
                    "dataset {:?} is owned by {:?}; member {:?} may not load it",
                    schema.dataset, schema.owner, self.member.code
                ),
            ));
        }
        Ok(DatasetWrite {
            dataset: schema.dataset.clone(),
            system: self.system.code.clone(),
            actor: self.actor(),
            request_id: self.request_id.clone(),
        })
    }

    /// The owning member's own systems (providers and consumers) read their register to
    /// cross-check it against another (`what` names the purpose in the refusal).
    pub fn own_register(&self, schema: &DatasetSchema, what: &str) -> Result<DatasetRead> {
        if !(self.has(Role::Provider) || self.has(Role::Consumer)) {
            return Err(Error::of(
                Code::RoleRequired,
                format!(
                    "{what} needs role \"provider\" or \"consumer\"; key {:?} of system {:?} has {:?}",
                    self.key_id,
                    self.system.code,
                    self.roles.iter().map(|r| r.name()).collect::<Vec<_>>()
                ),
            ));
        }
        if self.member.code != schema.owner {
            return Err(Error::of(
                Code::NotOwner,
                format!(
                    "{what}: dataset {:?} is owned by {:?}; member {:?} checks only its own registers",
                    schema.dataset, schema.owner, self.member.code
                ),
            ));
        }
        Ok(DatasetRead {
            dataset: schema.dataset.clone(),
            schema: schema.clone(),
            actor: self.actor(),
            request_id: self.request_id.clone(),
        })
    }

    /// The owning member's providers, and the node's stewards, define and release the open
    /// data made from a dataset.
    pub fn open_data_publisher(&self, owner: &str) -> Result<()> {
        if self.has(Role::Steward) || (self.has(Role::Provider) && self.member.code == owner) {
            return Ok(());
        }
        if self.has(Role::Provider) {
            return Err(Error::of(
                Code::NotOwner,
                format!(
                    "open data of member {owner:?} is published by its own providers; member {:?} \
                     publishes only its own",
                    self.member.code
                ),
            ));
        }
        Err(Error::of(
            Code::RoleRequired,
            format!(
                "publishing open data needs role \"provider\" (of the owner) or \"steward\"; key \
                 {:?} has {:?}",
                self.key_id,
                self.roles.iter().map(|r| r.name()).collect::<Vec<_>>()
            ),
        ))
    }

    /// The owner's providers, operators and auditors read the owner's view.
    pub fn dataset_read(&self, schema: &DatasetSchema) -> Result<DatasetRead> {
        let owner_provider = self.has(Role::Provider) && self.member.code == schema.owner;
        if owner_provider || self.has(Role::Operator) || self.has(Role::Auditor) {
            return Ok(DatasetRead {
                dataset: schema.dataset.clone(),
                schema: schema.clone(),
                actor: self.actor(),
                request_id: self.request_id.clone(),
            });
        }
        Err(Error::of(
            Code::NotOwner,
            format!(
                "the owner's view of {:?} is for providers of {:?}, operators and auditors; \
                 consumers use the exchange API",
                schema.dataset, schema.owner
            ),
        ))
    }
}

impl Audience for Caller {
    fn audit_actor(&self) -> Option<Actor> {
        Some(self.actor())
    }
    fn audit_request_id(&self) -> &str {
        &self.request_id
    }
}

/// `Audience` for a capability that carries its caller's `actor` and `request_id` (and, with
/// `dataset`, the dataset it is for).
macro_rules! audience {
    ($cap:ty $(, $dataset:ident)?) => {
        impl Audience for $cap {
            fn audit_actor(&self) -> Option<Actor> {
                Some(self.actor.clone())
            }
            fn audit_request_id(&self) -> &str {
                &self.request_id
            }
            $(fn audit_dataset(&self) -> Option<&str> {
                Some(&self.$dataset)
            })?
        }
    };
}

audience!(RegistryAdmin);
audience!(DatasetRead, dataset);
audience!(DatasetWrite, dataset);
audience!(AuditRead);

impl Audience for ExchangeRead {
    fn audit_actor(&self) -> Option<Actor> {
        Some(self.actor.clone())
    }
    fn audit_request_id(&self) -> &str {
        &self.request_id
    }
    fn audit_dataset(&self) -> Option<&str> {
        Some(&self.schema.dataset)
    }
}

impl Audience for SubjectRead {
    fn audit_actor(&self) -> Option<Actor> {
        self.actor.clone()
    }
    fn audit_request_id(&self) -> &str {
        &self.request_id
    }
}
