//! Authorization, decided in one place.
//!
//! | action | admin | dispatcher | courier | customer |
//! |---|---|---|---|---|
//! | create a package | yes | yes | 403 | yes (becomes its owner) |
//! | read a package, its events, its locations; watch it | yes | yes | its deliveries' | sender's or recipient's |
//! | list packages | all | all | its deliveries' | its own |
//! | change a package's status | yes | yes | its deliveries' | 403 |
//! | change a package's destination or promise | yes | yes | 403 | 403 (set at create) |
//! | post locations | yes | yes | its deliveries' | 403 |
//! | search near/within | yes | yes | 403 | 403 |
//! | read stats | yes | yes | 403 | 403 |
//! | create users of any role | yes | 403 | 403 | 403 |
//! | create, change, list deliveries | yes | yes | 403 | 403 |
//! | read a delivery | yes | yes | their own | 403 |
//! | register, rotate, revoke, list devices | yes | yes | 403 | 403 |
//! | read the audit trail | yes | 403 | 403 | 403 |
//! | draw, change, list, delete geofences | yes | yes | 403 | 403 |
//! | register and manage webhooks (their own) | yes | yes | 403 | yes (events of the packages it sees) |
//!
//! A package the caller may not see answers as if it did not exist (404),
//! so ids cannot be probed; an action the role may never take is 403.

use super::{Caller, Role};
use crate::domain::Email;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreatePackage,
    /// Read a package, its status history or its location history, or
    /// watch it live.
    ReadPackage,
    ListPackages,
    UpdateStatus,
    /// Change a package's destination or promised time.
    UpdatePlan,
    PostLocations,
    SearchArea,
    ReadStats,
    ManageUsers,
    /// Create, reassign, reorder or complete deliveries; list them all.
    ManageDeliveries,
    /// Read one delivery (a courier: their own).
    ReadDeliveries,
    /// Register devices, rotate and revoke their keys, list them.
    ManageDevices,
    /// Read the audit trail.
    ReadAudit,
    /// Draw, change, list and delete geofences.
    ManageGeofences,
    /// Read couriers' positions, presence and trails (a courier: their own).
    ReadCouriers,
    /// Register, change, list and delete one's own webhook endpoints, read
    /// their delivery logs, redeliver.
    ManageWebhooks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The role may never do this: 403.
    Forbidden,
    /// The caller may not see this package: answered as unknown (404).
    Hidden,
}

/// What the policy needs to know about one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageAccess {
    pub owner_id: Option<Uuid>,
    pub recipient_email: Option<Email>,
    /// Couriers whose deliveries include the package.
    pub courier_ids: Vec<Uuid>,
}

/// Whether the role may ever take the action, whatever the package.
pub fn role_may(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Dispatcher => !matches!(action, ManageUsers | ReadAudit),
        Role::Courier => matches!(
            action,
            ReadPackage
                | ListPackages
                | UpdateStatus
                | PostLocations
                | ReadDeliveries
                | ReadCouriers
        ),
        Role::Customer => matches!(
            action,
            CreatePackage | ReadPackage | ListPackages | ManageWebhooks
        ),
    }
}

/// Whether the caller's role reaches every package, or only its own.
pub fn sees_all(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Dispatcher)
}

/// Whether the caller may see this package at all.
pub fn sees(caller: &Caller, package: &PackageAccess) -> bool {
    match caller.role {
        Role::Admin | Role::Dispatcher => true,
        Role::Courier => package.courier_ids.contains(&caller.user_id),
        Role::Customer => {
            package.owner_id == Some(caller.user_id)
                || (package.recipient_email.is_some() && package.recipient_email == caller.email)
        }
    }
}

/// The decision for an action on one package (`None`: an action on no
/// package in particular, like listing or searching).
pub fn decide(caller: &Caller, action: Action, package: Option<&PackageAccess>) -> Decision {
    if !role_may(caller.role, action) {
        return Decision::Forbidden;
    }
    match package {
        Some(package) if !sees(caller, package) => Decision::Hidden,
        _ => Decision::Allow,
    }
}

/// The decision for reading one courier's positions, presence and trail:
/// admins and dispatchers any courier, a courier themselves; another
/// courier's reads as unknown.
pub fn decide_courier(caller: &Caller, courier_id: Uuid) -> Decision {
    if !role_may(caller.role, Action::ReadCouriers) {
        Decision::Forbidden
    } else if sees_all(caller.role) || caller.user_id == courier_id {
        Decision::Allow
    } else {
        Decision::Hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn couriers_are_read_by_dispatch_and_by_themselves() {
        let courier = caller(Role::Courier);
        let other = Uuid::new_v4();
        assert_eq!(decide_courier(&courier, courier.user_id), Decision::Allow);
        assert_eq!(decide_courier(&courier, other), Decision::Hidden);
        assert_eq!(
            decide_courier(&caller(Role::Dispatcher), other),
            Decision::Allow
        );
        assert_eq!(decide_courier(&caller(Role::Admin), other), Decision::Allow);
        assert_eq!(
            decide_courier(&caller(Role::Customer), other),
            Decision::Forbidden
        );
    }

    fn caller(role: Role) -> Caller {
        Caller {
            user_id: Uuid::new_v4(),
            role,
            email: Some(Email::parse(&format!("{role}@example.com")).unwrap()),
            device_id: None,
            session_id: None,
        }
    }

    #[test]
    fn customers_see_what_they_send_or_receive_and_nothing_else() {
        let ann = caller(Role::Customer);
        let sent = PackageAccess {
            owner_id: Some(ann.user_id),
            ..Default::default()
        };
        let received = PackageAccess {
            recipient_email: ann.email.clone(),
            ..Default::default()
        };
        let other = PackageAccess {
            owner_id: Some(Uuid::new_v4()),
            ..Default::default()
        };
        assert_eq!(
            decide(&ann, Action::ReadPackage, Some(&sent)),
            Decision::Allow
        );
        assert_eq!(
            decide(&ann, Action::ReadPackage, Some(&received)),
            Decision::Allow
        );
        assert_eq!(
            decide(&ann, Action::ReadPackage, Some(&other)),
            Decision::Hidden
        );
        // A role-level refusal comes first, and says 403 even for their own.
        assert_eq!(
            decide(&ann, Action::UpdateStatus, Some(&sent)),
            Decision::Forbidden
        );
    }

    #[test]
    fn couriers_reach_their_deliveries_packages_only() {
        let carl = caller(Role::Courier);
        let assigned = PackageAccess {
            courier_ids: vec![carl.user_id],
            ..Default::default()
        };
        assert_eq!(
            decide(&carl, Action::UpdateStatus, Some(&assigned)),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &carl,
                Action::PostLocations,
                Some(&PackageAccess::default())
            ),
            Decision::Hidden
        );
        assert_eq!(
            decide(&carl, Action::CreatePackage, None),
            Decision::Forbidden
        );
        assert_eq!(decide(&carl, Action::SearchArea, None), Decision::Forbidden);
    }

    #[test]
    fn only_admins_manage_users() {
        for role in Role::ALL {
            assert_eq!(
                role_may(role, Action::ManageUsers),
                role == Role::Admin,
                "{role}"
            );
        }
        assert!(role_may(Role::Dispatcher, Action::ReadStats));
    }
}
