//! Which channels a subscriber may name, and who may listen to them. Names are matched exactly,
//! never by prefix or pattern, and ids in them must be canonical (lowercase, hyphenated UUIDs):
//! any other spelling is refused, so one channel has one name.

use uuid::Uuid;

use crate::users::Actor;

/// A family of channels that events broadcast on. Each context declares its own; `app` hands
/// them all to the broadcasting routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRule {
    /// One public channel, e.g. `courses`.
    Public(&'static str),
    /// Public channels named by a prefix and an id, e.g. `course.` for `course.{id}`.
    PublicPerId(&'static str),
    /// Private channels of one user each, named by a prefix and the user's id, e.g. `user.` for
    /// `private-user.{id}`: only that user may listen.
    PrivateUser(&'static str),
    /// One private channel only admins may listen to, e.g. `admin.events` for
    /// `private-admin.events`.
    Admin(&'static str),
}

impl ChannelRule {
    /// The private channel of each user (`private-user.{id}`), which every context that tells a
    /// learner about their own progress broadcasts on.
    pub const USER: ChannelRule = ChannelRule::PrivateUser("user.");

    /// `private-admin.events`: every committed event (name, id, aggregate, time), written by the
    /// kernel's outbox for the events dashboard's live tail. Admins only.
    pub const ADMIN_EVENTS: ChannelRule = ChannelRule::Admin(crate::bus::ADMIN_EVENTS_CHANNEL);
}

/// Why a channel was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelRefusal {
    /// No event broadcasts on a channel of that name (or not in that spelling).
    #[error("no event broadcasts on a channel named `{0}` (names are exact; ids are lowercase hyphenated UUIDs)")]
    Unknown(String),
    /// A private channel of another user.
    #[error("`{0}` is another user's private channel")]
    NotYours(String),
    /// An admins' channel, and the caller is not an admin.
    #[error("`{0}` is for admins only")]
    AdminsOnly(String),
}

impl ChannelRefusal {
    /// The channel refused.
    pub fn channel(&self) -> &str {
        match self {
            Self::Unknown(c) | Self::NotYours(c) | Self::AdminsOnly(c) => c,
        }
    }
}

fn canonical_uuid(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// Whether `user` may listen to `channel` under `rules`.
pub fn authorize(rules: &[ChannelRule], channel: &str, user: Actor) -> Result<(), ChannelRefusal> {
    for rule in rules {
        match *rule {
            ChannelRule::Public(name) if channel == name => return Ok(()),
            ChannelRule::PublicPerId(prefix) => {
                if channel.strip_prefix(prefix).and_then(canonical_uuid).is_some() {
                    return Ok(());
                }
            }
            ChannelRule::PrivateUser(prefix) => {
                if let Some(id) = channel
                    .strip_prefix("private-")
                    .and_then(|rest| rest.strip_prefix(prefix))
                    .and_then(canonical_uuid)
                {
                    return if id == user.id().as_uuid() {
                        Ok(())
                    } else {
                        Err(ChannelRefusal::NotYours(channel.to_owned()))
                    };
                }
            }
            ChannelRule::Admin(name) if channel.strip_prefix("private-") == Some(name) => {
                return if user.is_admin() {
                    Ok(())
                } else {
                    Err(ChannelRefusal::AdminsOnly(channel.to_owned()))
                };
            }
            ChannelRule::Public(_) | ChannelRule::Admin(_) => {}
        }
    }
    Err(ChannelRefusal::Unknown(channel.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::users::Role;

    const RULES: &[ChannelRule] = &[
        ChannelRule::Public("courses"),
        ChannelRule::PublicPerId("course."),
        ChannelRule::USER,
        ChannelRule::ADMIN_EVENTS,
    ];

    fn learner(id: UserId) -> Actor {
        Actor::new(id, Role::Learner)
    }

    #[test]
    fn the_admin_events_channel_is_for_admins_only_in_its_one_spelling() {
        let admin = Actor::new(UserId::new(), Role::Admin);
        let instructor = Actor::new(UserId::new(), Role::Instructor);
        assert_eq!(authorize(RULES, "private-admin.events", admin), Ok(()));
        assert_eq!(
            authorize(RULES, "private-admin.events", instructor),
            Err(ChannelRefusal::AdminsOnly("private-admin.events".to_owned()))
        );
        for refused in [
            "admin.events",
            "private-admin.events ",
            "private-admin.event",
            "PRIVATE-ADMIN.EVENTS",
        ] {
            assert!(
                matches!(authorize(RULES, refused, admin), Err(ChannelRefusal::Unknown(_))),
                "{refused:?} must be refused as unknown"
            );
        }
    }

    #[test]
    fn public_channels_are_open_to_anyone() {
        let user = learner(UserId::new());
        let course = Uuid::now_v7();
        assert_eq!(authorize(RULES, "courses", user), Ok(()));
        assert_eq!(authorize(RULES, &format!("course.{course}"), user), Ok(()));
    }

    #[test]
    fn a_users_private_channel_is_theirs_alone_in_its_one_spelling() {
        let id = UserId::new();
        let user = learner(id);
        let other = UserId::new();
        let u = id.to_string();
        assert_eq!(authorize(RULES, &format!("private-user.{u}"), user), Ok(()));
        assert_eq!(
            authorize(RULES, &format!("private-user.{other}"), user),
            Err(ChannelRefusal::NotYours(format!("private-user.{other}")))
        );
        for refused in [
            format!("private-user.{u}x"),
            format!("private-user.{u}.x"),
            format!("private-user.{u} "),
            format!("PRIVATE-USER.{u}"),
            format!("private-user.{}", u.to_uppercase()),
            format!("private-user.{{{u}}}"),
            format!("private-user.{}", u.replace('-', "")),
            format!("private-user.urn:uuid:{u}"),
            "private-user.*".to_owned(),
            format!("user.{u}"),
            format!("private-user.{u}*"),
            format!("courses.{u}"),
            "courses ".to_owned(),
            format!("course.{}", u.to_uppercase()),
            "course.".to_owned(),
            "private-courses".to_owned(),
            String::new(),
        ] {
            assert!(
                matches!(authorize(RULES, &refused, user), Err(ChannelRefusal::Unknown(_))),
                "{refused:?} must be refused as unknown"
            );
        }
    }
}
