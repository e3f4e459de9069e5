//! The demo's web sign-in: an account for a person of each agency the tour visits (acting as
//! that agency's system, with the roles its API key has) and a credential for the demo
//! citizen. Their passwords are drawn at random and written with the API keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ndx_core::Core;
use ndx_core::account::NewWebAccount;
use ndx_types::registry::Role;
use rand::Rng;

/// The demo's web accounts: login, system, roles, name.
pub const ACCOUNTS: &[(&str, &str, &[Role], &str)] = &[
    (
        "lan.bca",
        "BCA-POPULATION",
        &[Role::Provider],
        "Nguyễn Thị Lan",
    ),
    (
        "minh.bnv",
        "BNV-CIVIL-SERVICE",
        &[Role::Provider],
        "Trần Văn Minh",
    ),
    ("hoa.btc", "BTC-BUSINESS", &[Role::Provider], "Lê Thị Hoa"),
    ("an.steward", "NDC-OPS", &[Role::Steward], "Phạm Văn An"),
    (
        "binh.operator",
        "NDC-OPS",
        &[Role::Operator, Role::Auditor],
        "Hoàng Văn Bình",
    ),
    (
        "thu.hanoi",
        "UBND-01-PUBLIC-SERVICE",
        &[Role::Consumer],
        "Vũ Thị Thu",
    ),
];

/// The key under which a login's password is written.
pub fn password_key(login: &str) -> String {
    format!("web:{login}")
}

/// The keys under which the demo citizen's ID and secret are written.
pub const CITIZEN_ID_KEY: &str = "web:citizen-id";
/// See [`CITIZEN_ID_KEY`].
pub const CITIZEN_SECRET_KEY: &str = "web:citizen";

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Opens the accounts and sets the citizen's credential, as the operator.
pub fn create(
    core: &Core,
    keys: &mut BTreeMap<String, String>,
    citizen: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let operator = core.authenticate(&keys["operator"], now)?;
    let admin = operator.registry_admin()?;
    for (login, system, roles, name) in ACCOUNTS {
        let password = random_password();
        core.create_web_account(
            &admin,
            NewWebAccount {
                login: (*login).to_owned(),
                system: (*system).to_owned(),
                roles: roles.to_vec(),
                name: (*name).to_owned(),
                password: password.clone(),
            },
            now,
        )?;
        keys.insert(password_key(login), password);
    }
    if let Some(id) = citizen {
        let secret = random_password();
        core.set_citizen_credential(&admin, id, &secret, now)?;
        keys.insert(CITIZEN_ID_KEY.into(), id.to_owned());
        keys.insert(CITIZEN_SECRET_KEY.into(), secret);
    }
    Ok(())
}
