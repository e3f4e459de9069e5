//! The catalogue kinds of open data: packages (by name, watched: every process serves the
//! portal), their immutable releases (by package and number) and their use per day.

use ndx_types::open::{Package, PackageUsage, Release};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The member publishing a package.
    pub const PUBLISHER: &str = "publisher";
    /// The package of a release.
    pub const PACKAGE: &str = "package";
}

impl Kind for Package {
    const KIND: &'static str = "package";
    const NOUN: &'static str = "package";
    fn id(&self) -> String {
        self.name.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(attr::PUBLISHER, &self.publisher)]
    }
}

impl Kind for Release {
    const KIND: &'static str = "release";
    const NOUN: &'static str = "release";
    fn id(&self) -> String {
        Release::id_of(&self.package, self.number)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(attr::PACKAGE, &self.package)]
    }
}

impl Kind for PackageUsage {
    const KIND: &'static str = "package-usage";
    const NOUN: &'static str = "package usage";
    // Written by every few requests, never cached.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        PackageUsage::id_of(&self.package, self.day)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(attr::PACKAGE, &self.package)]
    }
}
