import FieldworkDomain
import FieldworkRuntime
import Foundation

/// The scoring service's schema: the runtime's tables, then its own.
enum ScoringMigrations {
    static let all: [Migration] = [
        RuntimeSchema.core,
        RuntimeSchema.outboxRows,
        RuntimeSchema.outboxDueOrder,
        RuntimeSchema.outboxParkedOrder,
        RuntimeSchema.retentionOrder,
        RuntimeSchema.storedAnswer,
        RuntimeSchema.directoryReplica,
        RuntimeSchema.directoryVersions,
        Migration(100, "facts, model versions and health runs", """
            -- Facts are immutable and keyed by the source row id, so a re-import changes nothing.
            CREATE TABLE purchases (
                source_row_id text PRIMARY KEY,
                customer_id   text NOT NULL,
                product_line  text NOT NULL,
                amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
                day           date NOT NULL,
                recorded_at   timestamptz NOT NULL
            );
            CREATE INDEX purchases_customer ON purchases (customer_id, day);
            CREATE INDEX purchases_day ON purchases (day);
            CREATE TABLE trials (
                source_row_id text PRIMARY KEY,
                customer_id   text NOT NULL,
                product_id    text NOT NULL,
                day           date NOT NULL,
                recorded_at   timestamptz NOT NULL
            );
            CREATE INDEX trials_day ON trials (day);
            CREATE TABLE academic_participations (
                source_row_id text PRIMARY KEY,
                customer_id   text NOT NULL,
                event_name    text NOT NULL,
                day           date NOT NULL,
                recorded_at   timestamptz NOT NULL
            );
            CREATE INDEX academic_participations_day ON academic_participations (day);

            CREATE TABLE model_versions (
                version    integer PRIMARY KEY,
                config     jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                created_by text NOT NULL,
                reason     text NOT NULL
            );
            INSERT INTO model_versions (version, config, created_at, created_by, reason) VALUES (1, '{
              "weightPurchases": 0.4, "weightTrials": 0.3, "weightAcademic": 0.3, "windowMonths": 3,
              "purchasesFullPercentile": 90, "trialsFullMarks": 3, "academicFullMarks": 4,
              "gradeAMin": 80, "gradeBMin": 60, "zeroStreakWeeks": 2, "cultivationMaxScore": 70
            }', now(), 'system', 'SPEC §4.2 defaults');

            CREATE TABLE scoring_runs (
                id                uuid PRIMARY KEY,
                as_of             timestamptz NOT NULL,
                model_version     integer NOT NULL REFERENCES model_versions (version),
                customers_scored  integer NOT NULL,
                purchases_p90_fen bigint NOT NULL,
                hints             integer NOT NULL,
                created_at        timestamptz NOT NULL
            );
            CREATE INDEX scoring_runs_as_of ON scoring_runs (as_of);
            CREATE TABLE customer_health (
                run_id           uuid NOT NULL REFERENCES scoring_runs (id),
                customer_id      text NOT NULL,
                as_of            timestamptz NOT NULL,
                score            double precision NOT NULL,
                purchases        double precision NOT NULL,
                trials           double precision NOT NULL,
                academic         double precision NOT NULL,
                grade            text NOT NULL,
                model_version    integer NOT NULL,
                cultivation_hint boolean NOT NULL,
                PRIMARY KEY (run_id, customer_id)
            );
            CREATE INDEX customer_health_history ON customer_health (customer_id, as_of);
            """),
        Migration(101, "red warnings", """
            -- One row per zero-activity streak (customer, component, first empty week): raised once.
            CREATE TABLE warnings (
                id           uuid PRIMARY KEY,
                customer_id  text NOT NULL,
                component    text NOT NULL CHECK (component IN ('P', 'T', 'A')),
                streak_start date NOT NULL,
                weeks        integer NOT NULL,
                run_id       uuid NOT NULL REFERENCES scoring_runs (id),
                raised_at    timestamptz NOT NULL,
                notified     text[] NOT NULL,
                UNIQUE (customer_id, component, streak_start)
            );
            CREATE INDEX warnings_by_time ON warnings (raised_at, id);
            ALTER TABLE scoring_runs ADD COLUMN warnings_raised integer NOT NULL DEFAULT 0;
            -- Components under a red warning in that run (raised then or earlier in the same streak).
            ALTER TABLE customer_health ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';
            """),
        Migration(102, "contracts, payments and strategy rules", """
            CREATE TABLE contracts (
                id                 text PRIMARY KEY,   -- the source contract number
                customer_id        text NOT NULL,
                region             text NOT NULL,
                amount_fen         bigint NOT NULL CHECK (amount_fen > 0),
                payment_terms_days integer NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 3650),
                signed             date NOT NULL,
                recorded_at        timestamptz NOT NULL
            );
            CREATE INDEX contracts_region ON contracts (region, signed DESC, id);
            -- Every change of a contract's payment terms, in order.
            CREATE TABLE contract_term_revisions (
                contract_id text NOT NULL REFERENCES contracts (id),
                seq         integer NOT NULL,
                from_days   integer NOT NULL,
                to_days     integer NOT NULL,
                effective   date NOT NULL,
                reason      text NOT NULL,
                revised_by  text NOT NULL,
                revised_at  timestamptz NOT NULL,
                PRIMARY KEY (contract_id, seq)
            );
            CREATE TABLE payments (
                source_row_id text PRIMARY KEY,
                contract_id   text NOT NULL REFERENCES contracts (id),
                invoice_date  date NOT NULL,
                paid_date     date NOT NULL CHECK (paid_date >= invoice_date),
                amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
                recorded_at   timestamptz NOT NULL
            );
            CREATE INDEX payments_paid ON payments (paid_date);

            -- Plan-day closes from the visits service (process control, SPEC §4.6).
            CREATE TABLE plan_days (
                rep_id  text NOT NULL,
                day     date NOT NULL,
                region  text NOT NULL,
                planned integer NOT NULL,
                valid   integer NOT NULL,
                PRIMARY KEY (rep_id, day)
            );

            -- Strategy rules: every saved version; the highest is in force.
            CREATE TABLE rules (
                id         text NOT NULL,
                version    integer NOT NULL,
                definition jsonb NOT NULL,
                updated_at timestamptz NOT NULL,
                updated_by text NOT NULL,
                reason     text NOT NULL,
                PRIMARY KEY (id, version)
            );
            INSERT INTO rules (id, version, definition, updated_at, updated_by, reason) VALUES
            \(StrategyRule.builtIns.map { "('\($0.id)', 1, '\(sqlJSON($0))'::jsonb, now(), 'system', 'SPEC §4.5 built-in')" }.joined(separator: ",\n"));
            -- One firing per (rule, occurrence): a job that runs again fires nothing new.
            CREATE TABLE rule_firings (
                id             uuid PRIMARY KEY,
                rule_id        text NOT NULL,
                rule_version   integer NOT NULL,
                occurrence_key text NOT NULL,
                subject        text NOT NULL,
                fired_at       timestamptz NOT NULL,
                inputs         jsonb NOT NULL,
                explanation    text NOT NULL,
                notified       text[] NOT NULL,
                UNIQUE (rule_id, occurrence_key)
            );
            CREATE INDEX rule_firings_by_time ON rule_firings (fired_at, id);
            -- Stalled-customer streaks per (rep, customer), fed by visits and funnel events.
            CREATE TABLE visit_streaks (
                rep_id      text NOT NULL,
                customer_id text NOT NULL,
                streak      jsonb NOT NULL,
                PRIMARY KEY (rep_id, customer_id)
            );
            """),
        Migration(103, "recommendations, funnel changes and card response times", """
            -- Each run's recommendations: high-potential customers per product line not yet won.
            CREATE TABLE recommendations (
                run_id       uuid NOT NULL REFERENCES scoring_runs (id),
                customer_id  text NOT NULL,
                product_line text NOT NULL,
                score        double precision NOT NULL,
                reason       text NOT NULL,
                PRIMARY KEY (run_id, customer_id, product_line)
            );
            ALTER TABLE scoring_runs ADD COLUMN recommendations integer NOT NULL DEFAULT 0;
            -- The visits service's funnel changes: a line reaching WON is a conversion.
            CREATE TABLE funnel_changes (
                event_id     uuid PRIMARY KEY,
                customer_id  text NOT NULL,
                product_line text NOT NULL,
                to_stage     text NOT NULL,
                changed_at   timestamptz NOT NULL
            );
            CREATE INDEX funnel_changes_won ON funnel_changes (customer_id, product_line, changed_at) WHERE to_stage = 'WON';
            CREATE INDEX purchases_line ON purchases (customer_id, product_line, day);
            -- Each customer's latest trial and academic event (zero streaks) by index.
            CREATE INDEX trials_customer ON trials (customer_id, day);
            CREATE INDEX academic_participations_customer ON academic_participations (customer_id, day);
            -- Cards from the workflows service and their first response (collaboration, SPEC §4.6).
            CREATE TABLE card_responses (
                card_id           text PRIMARY KEY,
                department        text NOT NULL,
                created_at        timestamptz NOT NULL,
                first_response_at timestamptz
            );
            CREATE INDEX card_responses_created ON card_responses (created_at);
            """),
        Migration(104, "a run's rows without a per-row check of their run", """
            -- A run writes its health rows and recommendations right after its scoring_runs row, in
            -- the same transaction (ScoringRun). Checking run_id against scoring_runs for each of them,
            -- 100 000 and more per run, took about 0.3 s (measured: 100 000 rows 489-499 ms with the
            -- foreign key, 175-203 ms without). Runs are history and are never deleted; a statement
            -- trigger refuses DELETE and TRUNCATE, so those rows cannot lose their run.
            ALTER TABLE customer_health DROP CONSTRAINT customer_health_run_id_fkey;
            ALTER TABLE recommendations DROP CONSTRAINT recommendations_run_id_fkey;
            CREATE FUNCTION scoring_runs_are_history() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'scoring runs are history and are never deleted'; END $$;
            CREATE TRIGGER scoring_runs_kept BEFORE DELETE OR TRUNCATE ON scoring_runs
                FOR EACH STATEMENT EXECUTE FUNCTION scoring_runs_are_history();
            """),
        Migration(105, "no-plan days", """
            -- Working days a rep closed without a plan: reported apart from process control.
            ALTER TABLE plan_days ADD COLUMN no_plan boolean NOT NULL DEFAULT false;
            -- Who asked for a card, so collaboration is reported within the caller's scope
            -- (SPEC §8.2); cards copied before this migration have none and count company-wide only.
            ALTER TABLE card_responses ADD COLUMN requester_id text;
            """),
    ]
}

/// A built-in rule as JSON inside a SQL string literal.
private func sqlJSON(_ rule: StrategyRule) -> String {
    ((try? stableJSON(rule)) ?? "{}").replacingOccurrences(of: "'", with: "''")
}
