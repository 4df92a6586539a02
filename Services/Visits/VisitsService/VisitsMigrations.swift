import FieldworkRuntime

/// The visits service's schema: the runtime's tables, then its own.
enum VisitsMigrations {
    static let all: [Migration] = [
        RuntimeSchema.core,
        RuntimeSchema.outboxRows,
        RuntimeSchema.outboxDueOrder,
        RuntimeSchema.outboxParkedOrder,
        RuntimeSchema.retentionOrder,
        RuntimeSchema.storedAnswer,
        Migration(100, "directory", """
            CREATE TABLE departments (
                code           text PRIMARY KEY,
                name           text NOT NULL,
                head_person_id text NOT NULL DEFAULT '',
                updated_at     timestamptz NOT NULL
            );
            CREATE TABLE people (
                id            text PRIMARY KEY,
                name          text NOT NULL,
                phone         text NOT NULL,
                wecom_user_id text NOT NULL,
                department    text NOT NULL,
                region        text NOT NULL,
                supervisor_id text NOT NULL,
                roles         text[] NOT NULL,
                active        boolean NOT NULL DEFAULT true,
                updated_at    timestamptz NOT NULL
            );
            CREATE INDEX people_supervisor ON people (supervisor_id);
            CREATE INDEX people_department ON people (department);
            CREATE TABLE customers (
                id             text PRIMARY KEY,
                registry_code  text NOT NULL,
                name           text NOT NULL,
                level          text NOT NULL,
                region         text NOT NULL,
                address        text NOT NULL,
                latitude       double precision NOT NULL,
                longitude      double precision NOT NULL,
                fence_radius_m integer NOT NULL,
                departments    text[] NOT NULL,
                owner_rep_id   text NOT NULL,
                grade          text NOT NULL CHECK (grade IN ('A', 'B', 'C')),
                updated_at     timestamptz NOT NULL
            );
            CREATE INDEX customers_region ON customers (region);
            CREATE TABLE products (
                id           text PRIMARY KEY,
                name         text NOT NULL,
                product_line text NOT NULL,
                active       boolean NOT NULL DEFAULT true,
                updated_at   timestamptz NOT NULL
            );
            """),
        Migration(101, "visits", """
            CREATE TABLE visits (
                id                 uuid PRIMARY KEY,
                rep_id             text NOT NULL,
                customer_id        text NOT NULL REFERENCES customers (id),
                status             text NOT NULL CHECK (status IN ('OPEN', 'SUBMITTED', 'VOID')),
                void_reason        text NOT NULL DEFAULT '',
                out_of_range       boolean NOT NULL,
                distance_m         double precision NOT NULL,
                checkin_latitude   double precision,
                checkin_longitude  double precision,
                checkin_accuracy_m double precision,
                checked_in_at      timestamptz NOT NULL,
                device_time        timestamptz,
                checkin_department text NOT NULL,
                watermark          text NOT NULL,
                checkout_latitude  double precision,
                checkout_longitude double precision,
                checkout_accuracy_m double precision,
                checked_out_at     timestamptz,
                record             jsonb NOT NULL DEFAULT '{}',
                objection_type     text NOT NULL DEFAULT '',
                product_ids        text[] NOT NULL DEFAULT '{}',
                amendments         integer NOT NULL DEFAULT 0
            );
            CREATE INDEX visits_rep_customer ON visits (rep_id, customer_id, checked_in_at DESC);
            CREATE INDEX visits_checked_in ON visits (checked_in_at);
            """),
        Migration(102, "grade changes and daily plans", """
            CREATE TABLE grade_changes (
                id              uuid PRIMARY KEY,
                customer_id     text NOT NULL REFERENCES customers (id),
                from_grade      text NOT NULL,
                to_grade        text NOT NULL CHECK (to_grade IN ('A', 'B', 'C')),
                proposed_by     text NOT NULL,
                reason          text NOT NULL,
                status          text NOT NULL CHECK (status IN ('PROPOSED', 'CONFIRMED', 'REJECTED')),
                decided_by      text NOT NULL DEFAULT '',
                decision_reason text NOT NULL DEFAULT '',
                proposed_at     timestamptz NOT NULL,
                decided_at      timestamptz
            );
            -- At most one open proposal per customer.
            CREATE UNIQUE INDEX grade_changes_one_open ON grade_changes (customer_id) WHERE status = 'PROPOSED';
            CREATE INDEX grade_changes_customer ON grade_changes (customer_id, proposed_at);

            CREATE TABLE plan_items (
                rep_id      text NOT NULL,
                day         date NOT NULL,
                customer_id text NOT NULL REFERENCES customers (id),
                slot        text NOT NULL DEFAULT '',
                PRIMARY KEY (rep_id, day, customer_id)
            );
            -- A closed day: the counts published at the check time, never recomputed.
            CREATE TABLE plan_days (
                rep_id    text NOT NULL,
                day       date NOT NULL,
                planned   integer NOT NULL,
                valid     integer NOT NULL,
                closed_at timestamptz NOT NULL,
                PRIMARY KEY (rep_id, day)
            );
            -- One objection digest per ISO week (keyed by its Monday).
            CREATE TABLE objection_digests (
                week         date PRIMARY KEY,
                published_at timestamptz NOT NULL
            );
            CREATE INDEX visits_objections ON visits (checked_out_at) WHERE status = 'SUBMITTED' AND objection_type <> '';
            """),
        Migration(103, "funnel", """
            CREATE TABLE funnel (
                customer_id  text NOT NULL REFERENCES customers (id),
                product_line text NOT NULL,
                stage        text NOT NULL,
                changed_by   text NOT NULL,
                changed_at   timestamptz NOT NULL,
                PRIMARY KEY (customer_id, product_line)
            );
            CREATE TABLE funnel_changes (
                seq          bigserial PRIMARY KEY,
                customer_id  text NOT NULL,
                product_line text NOT NULL,
                from_stage   text NOT NULL,
                to_stage     text NOT NULL,
                actor_id     text NOT NULL,
                at           timestamptz NOT NULL
            );
            CREATE INDEX funnel_changes_at ON funnel_changes (at);
            """),
        Migration(104, "check-in keys", """
            CREATE TABLE checkin_keys (
                id         text PRIMARY KEY,
                secret     bytea NOT NULL,
                created_at timestamptz NOT NULL,
                retired_at timestamptz
            );
            """),
        Migration(105, "customer contacts", """
            ALTER TABLE customers ADD COLUMN contacts jsonb NOT NULL DEFAULT '[]';
            """),
        // CheckIn's one write statement calls this first. It takes the rep's check-in
        // lock at the customer, held until that statement's transaction ends (a
        // double tap cannot open two visits), then reads the open visit in a fresh
        // snapshot: in READ COMMITTED a volatile function's queries see what
        // committed before the lock, which the calling statement's own snapshot
        // does not. Under REPEATABLE READ or SERIALIZABLE they would not (one
        // snapshot per transaction), so it refuses to run there.
        Migration(106, "check-in lock", """
            CREATE FUNCTION open_visit_after_check_in_lock(for_rep text, at_customer text, since timestamptz)
            RETURNS SETOF visits LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                IF current_setting('transaction_isolation') <> 'read committed' THEN
                    RAISE EXCEPTION 'open_visit_after_check_in_lock needs READ COMMITTED, not %', current_setting('transaction_isolation');
                END IF;
                PERFORM pg_advisory_xact_lock(hashtextextended('checkin:' || for_rep || ':' || at_customer, 0));
                RETURN QUERY SELECT * FROM visits
                    WHERE rep_id = for_rep AND customer_id = at_customer AND status = 'OPEN' AND checked_in_at >= since
                    ORDER BY checked_in_at DESC LIMIT 1;
            END
            $$;
            """),
        Migration(107, "no-plan days", """
            -- A working day a planner closed without a plan (SPEC §8.3): planned and valid 0.
            ALTER TABLE plan_days ADD COLUMN no_plan boolean NOT NULL DEFAULT false;
            """),
    ]
}
