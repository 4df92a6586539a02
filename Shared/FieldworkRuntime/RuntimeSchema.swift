/// Tables the runtime's reusable pieces need in every service database. A
/// service lists these migrations first, then its own, numbered after them.
public enum RuntimeSchema {
    /// Outbox, inbox, audit log and idempotency keys.
    public static let core = Migration(1, "runtime core", """
        CREATE TABLE outbox (
            id              bigserial PRIMARY KEY,
            event_id        uuid NOT NULL,
            subscriber      text NOT NULL,
            aggregate_id    text NOT NULL,
            event_type      text NOT NULL,
            payload         bytea NOT NULL,
            created_at      timestamptz NOT NULL,
            attempts        integer NOT NULL DEFAULT 0,
            rejections      integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            delivered_at    timestamptz,
            parked_at       timestamptz,
            last_error      text,
            UNIQUE (event_id, subscriber)
        );
        CREATE INDEX outbox_pending ON outbox (subscriber, aggregate_id, id)
            WHERE delivered_at IS NULL AND parked_at IS NULL;
        CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL;

        CREATE TABLE inbox (
            event_id    uuid PRIMARY KEY,
            event_type  text NOT NULL,
            source      text NOT NULL,
            received_at timestamptz NOT NULL
        );

        CREATE TABLE audit_log (
            seq             bigserial PRIMARY KEY,
            id              uuid NOT NULL UNIQUE,
            at              timestamptz NOT NULL,
            actor_person_id text NOT NULL,
            actor_role      text NOT NULL,
            entity_type     text NOT NULL,
            entity_id       text NOT NULL,
            action          text NOT NULL,
            changes         jsonb NOT NULL,
            reason          text NOT NULL DEFAULT '',
            request_id      text NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, seq);
        CREATE INDEX audit_log_actor ON audit_log (actor_person_id, seq);
        CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

        CREATE TABLE idempotency_keys (
            method     text NOT NULL,
            principal  text NOT NULL,
            request_id text NOT NULL,
            response   bytea NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (method, principal, request_id)
        );
        """)

    /// `outbox_rows`: a batch of events as outbox rows, one per event and
    /// subscriber in event order, due at once even when dated ahead (a job run
    /// with a future `as_of`). Every statement that writes events inserts these
    /// rows, so the shape lives here once: `Outbox.appendAll`, and statements that
    /// write their events beside the change itself (data-modifying CTEs).
    public static let outboxRows = Migration(3, "outbox rows", """
        CREATE FUNCTION outbox_rows(
            event_ids uuid[], aggregate_ids text[], event_types text[], payloads bytea[], subscribers text[], occurred_at timestamptz
        ) RETURNS TABLE (event_id uuid, subscriber text, aggregate_id text, event_type text, payload bytea,
                         created_at timestamptz, next_attempt_at timestamptz)
        LANGUAGE sql STABLE AS $$
            SELECT e, s, a, t, p, occurred_at, least(occurred_at, now())
            FROM unnest(event_ids, aggregate_ids, event_types, payloads) WITH ORDINALITY AS x (e, a, t, p, n)
            CROSS JOIN unnest(subscribers) WITH ORDINALITY AS y (s, m)
            ORDER BY n, m
        $$;
        """)

    /// The relay's walk through a subscriber's pending rows in id order, which
    /// stops once it has a batch; `outbox_pending` answers "is an earlier row of
    /// this aggregate still pending?" for each row it meets. Before this, each
    /// pass sorted every pending row of the subscriber (DISTINCT ON aggregate):
    /// 131 ms a pass with a 72 000-row backlog, so catching up after an outage
    /// cost time in the square of the backlog.
    public static let outboxDueOrder = Migration(4, "outbox due order", """
        CREATE INDEX outbox_due ON outbox (subscriber, id) WHERE delivered_at IS NULL AND parked_at IS NULL;
        """)

    /// A parked row holds back the later rows of its aggregate until it is
    /// redriven, so a redrive delivers in order; the relay asks this index
    /// whether an aggregate has an earlier parked row (parked rows are rare).
    public static let outboxParkedOrder = Migration(7, "parked rows hold their aggregate", """
        CREATE INDEX outbox_parked_aggregate ON outbox (subscriber, aggregate_id, id) WHERE delivered_at IS NULL AND parked_at IS NOT NULL;
        """)

    /// The retention purge finds old consumed event ids and stored answers by age.
    public static let retentionOrder = Migration(8, "retention by age", """
        CREATE INDEX inbox_received ON inbox (received_at);
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
        """)

    /// `stored_answer_after_request_lock`: takes the request id's lock, then
    /// reads its stored answer (NULL: none) in a snapshot taken after the lock,
    /// so a retry that waited sees the first call's answer. One round trip
    /// where the lock and the read took two; `ServiceEnvironment.command`.
    /// The lock key is the one the runtime took before this function existed.
    public static let storedAnswer = Migration(5, "stored answer after request lock", """
        CREATE FUNCTION stored_answer_after_request_lock(for_method text, for_principal text, for_request text)
        RETURNS bytea LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            answer bytea;
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'stored_answer_after_request_lock needs READ COMMITTED, not %', current_setting('transaction_isolation');
            END IF;
            PERFORM pg_advisory_xact_lock(hashtextextended(for_method || chr(1) || for_principal || chr(1) || for_request, 0));
            SELECT response INTO answer FROM idempotency_keys
                WHERE method = for_method AND principal = for_principal AND request_id = for_request;
            RETURN answer;
        END
        $$;
        """)

    /// Read-only copies of the directory, fed by the visits service's events.
    public static let directoryReplica = Migration(2, "directory replica", """
        CREATE TABLE directory_people (
            id            text PRIMARY KEY,
            name          text NOT NULL,
            department    text NOT NULL,
            region        text NOT NULL,
            supervisor_id text NOT NULL,
            roles         text[] NOT NULL,
            wecom_user_id text NOT NULL,
            active        boolean NOT NULL,
            updated_at    timestamptz NOT NULL
        );
        CREATE INDEX directory_people_department ON directory_people (department) WHERE active;
        CREATE TABLE directory_departments (
            code           text PRIMARY KEY,
            name           text NOT NULL,
            head_person_id text NOT NULL
        );
        CREATE TABLE directory_customers (
            id           text PRIMARY KEY,
            name         text NOT NULL,
            region       text NOT NULL,
            level        text NOT NULL,
            owner_rep_id text NOT NULL,
            grade        text NOT NULL,
            updated_at   timestamptz NOT NULL
        );
        CREATE TABLE directory_products (
            id           text PRIMARY KEY,
            name         text NOT NULL,
            product_line text NOT NULL,
            active       boolean NOT NULL
        );
        """)

    /// Departments and products carry no change time of their own: their copies keep
    /// the event's `occurred_at`, so a redriven older change cannot overwrite a newer one.
    public static let directoryVersions = Migration(6, "directory replica versions", """
        ALTER TABLE directory_departments ADD COLUMN changed_at timestamptz NOT NULL DEFAULT '-infinity';
        ALTER TABLE directory_products ADD COLUMN changed_at timestamptz NOT NULL DEFAULT '-infinity';
        """)

    /// The first number a service's own migrations may use.
    public static let firstServiceVersion = 100
}
