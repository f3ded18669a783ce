//! Roles and API tokens on a real database, SQLite and PostgreSQL: a token authenticates its
//! user until revoked, only its hash is stored, and bad tokens authenticate no one.

use shared_kernel::testing::TestDb;
use shared_kernel::users::{
    Role, UserError, authenticate, create_user_with_role, find_user_by_email, issue_token, revoke_tokens,
};

async fn tokens_authenticate_until_revoked(db: TestDb) {
    let now = chrono::Utc::now();
    let mut conn = db.db().writer().acquire().await.unwrap();
    let budi = create_user_with_role(&mut conn, "Budi", "Budi@Example.id", Role::Instructor, now)
        .await
        .unwrap();
    let first = issue_token(&mut conn, budi.id(), now).await.unwrap();
    let second = issue_token(&mut conn, budi.id(), now).await.unwrap();

    let caller = authenticate(&mut conn, first.expose()).await.unwrap().unwrap();
    assert_eq!((caller.user.id(), caller.role), (budi.id(), Role::Instructor));
    assert!(authenticate(&mut conn, second.expose()).await.unwrap().is_some());
    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens LIMIT 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(!stored.contains(&first.expose()[3..]) && !stored.contains(&second.expose()[3..]));
    for bad in [
        "",
        "ek_",
        "Bearer x",
        &first.expose().to_uppercase(),
        &format!("{}0", first.expose()),
    ] {
        assert!(authenticate(&mut conn, bad).await.unwrap().is_none(), "{bad}");
    }
    assert_eq!(
        find_user_by_email(&mut conn, "budi@example.ID")
            .await
            .unwrap()
            .map(|u| u.id()),
        Some(budi.id())
    );
    assert!(matches!(
        create_user_with_role(&mut conn, "Budi 2", "budi@example.id", Role::Learner, now).await,
        Err(UserError::EmailTaken(_))
    ));

    assert_eq!(revoke_tokens(&mut conn, budi.id(), now).await.unwrap(), 2);
    assert!(authenticate(&mut conn, first.expose()).await.unwrap().is_none());
    assert!(authenticate(&mut conn, second.expose()).await.unwrap().is_none());
    let third = issue_token(&mut conn, budi.id(), now).await.unwrap();
    assert!(authenticate(&mut conn, third.expose()).await.unwrap().is_some());
    drop(conn);
    db.cleanup().await;
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_on_sqlite() {
    tokens_authenticate_until_revoked(TestDb::new(vec![]).await).await;
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_on_postgres() {
    if let Some(db) = TestDb::postgres("api_tokens_on_postgres", vec![]).await {
        tokens_authenticate_until_revoked(db).await;
    }
}
