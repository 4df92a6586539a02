import FieldworkRuntime

/// The notifications service's schema: the runtime's tables, then its own.
enum NotificationsMigrations {
    static let all: [Migration] = [
        RuntimeSchema.core,
        RuntimeSchema.outboxRows,
        RuntimeSchema.outboxDueOrder,
        RuntimeSchema.outboxParkedOrder,
        RuntimeSchema.retentionOrder,
        RuntimeSchema.storedAnswer,
        RuntimeSchema.directoryReplica,
        RuntimeSchema.directoryVersions,
        Migration(100, "inbox", """
            CREATE TABLE inbox_items (
                cursor     bigserial PRIMARY KEY,
                id         uuid NOT NULL UNIQUE,
                person_id  text NOT NULL,
                event_id   uuid NOT NULL,
                event_type text NOT NULL,
                title      text NOT NULL,
                body       text NOT NULL,
                link       text NOT NULL,
                created_at timestamptz NOT NULL,
                read_at    timestamptz,
                -- Dedupe per (source event, recipient) for the inbox channel.
                UNIQUE (event_id, person_id)
            );
            CREATE INDEX inbox_items_person ON inbox_items (person_id, cursor);
            CREATE INDEX inbox_items_unread ON inbox_items (person_id) WHERE read_at IS NULL;

            CREATE TABLE message_templates (
                event_type    text NOT NULL,
                locale        text NOT NULL,
                version       integer NOT NULL,
                title         text NOT NULL,
                body          text NOT NULL,
                link_template text NOT NULL,
                created_at    timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (event_type, locale, version)
            );
            INSERT INTO message_templates (event_type, locale, version, title, body, link_template) VALUES
            ('workflows.CardCreated', 'zh-CN', 1, '新任务卡 {number}：{title}',
             E'**{title}**\\n\\n{description}\\n\\n客户：{customer_name}\\n首次响应截止：{due_at}',
             'fieldwork://cards/{card_id}');
            """),
        Migration(101, "workflow message templates", """
            INSERT INTO message_templates (event_type, locale, version, title, body, link_template) VALUES
            ('workflows.CardEscalated', 'zh-CN', 1, '任务卡 {number} 已升级（{level_name}）',
             E'**{number}**（{department}）自 {overdue_since} 起无人响应，已升级至{level_name}。',
             'fieldwork://cards/{card_id}'),
            ('workflows.RequestCompleted', 'zh-CN', 1, '您的申请已全部完成',
             E'申请 {request_id} 的所有任务卡均已完成（{completed_at}）。',
             'fieldwork://requests/{request_id}'),
            ('workflows.ApprovalStepPending', 'zh-CN', 1, '待您审批：{subject}',
             E'**{subject}** 第 {step} 步等待您的审批。',
             'fieldwork://approvals/{approval_id}'),
            ('workflows.ApprovalDecided', 'zh-CN', 1, '审批结果：{outcome_name}',
             E'您提交的审批 {approval_id} 已{outcome_name}。',
             'fieldwork://approvals/{approval_id}');
            """),
        Migration(102, "routes", """
            CREATE TABLE routes (
                id         text NOT NULL,
                version    integer NOT NULL,
                event_type text NOT NULL,
                recipients jsonb NOT NULL,
                channels   text[] NOT NULL,
                active     boolean NOT NULL DEFAULT true,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (id, version)
            );
            -- Who each event reaches, as data; placeholders come from the event.
            INSERT INTO routes (id, version, event_type, recipients, channels) VALUES
            ('card-created-department', 1, 'workflows.CardCreated', '{"departments": ["{department}"]}', '{INBOX}'),
            ('card-escalated-target', 1, 'workflows.CardEscalated', '{"personIds": ["{escalated_to}"]}', '{INBOX}'),
            ('request-completed-requester', 1, 'workflows.RequestCompleted', '{"personIds": ["{requester_id}"]}', '{INBOX}'),
            ('approval-step-approver', 1, 'workflows.ApprovalStepPending', '{"personIds": ["{approver_id}"]}', '{INBOX}'),
            ('approval-decided-submitter', 1, 'workflows.ApprovalDecided', '{"personIds": ["{submitter_id}"]}', '{INBOX}');
            """),
        Migration(103, "external channels and deliveries", """
            -- WeCom robots and webhooks; a robot posts for a department or region, or for everyone when neither is set.
            CREATE TABLE channels (
                id         text PRIMARY KEY,
                kind       text NOT NULL CHECK (kind IN ('WECOM_ROBOT', 'WEBHOOK')),
                name       text NOT NULL,
                url        text NOT NULL,
                department text NOT NULL DEFAULT '',
                region     text NOT NULL DEFAULT '',
                enabled    boolean NOT NULL DEFAULT true,
                version    integer NOT NULL,
                updated_at timestamptz NOT NULL,
                -- One post at a time per channel, across replicas: the post holding it, until when.
                busy_post  uuid,
                busy_until timestamptz
            );
            -- One row per (source event, channel): the dedupe of SPEC §5.2.
            CREATE TABLE deliveries (
                id              uuid PRIMARY KEY,
                seq             bigserial UNIQUE,   -- listing order and page key
                event_id        uuid NOT NULL,
                event_type      text NOT NULL,
                channel_id      text NOT NULL REFERENCES channels (id),
                kind            text NOT NULL,
                title           text NOT NULL,
                body            text NOT NULL,
                link            text NOT NULL,
                status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'DEAD')),
                attempts        integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL,
                -- Set while a post carries the delivery; a crashed dispatcher's lease runs out,
                -- and a late answer to an expired lease changes nothing.
                lease_id        uuid,
                leased_until    timestamptz,
                last_error      text NOT NULL DEFAULT '',
                created_at      timestamptz NOT NULL,
                delivered_at    timestamptz,
                UNIQUE (event_id, channel_id, kind)
            );
            CREATE INDEX deliveries_due ON deliveries (channel_id, next_attempt_at) WHERE status = 'PENDING';
            CREATE INDEX deliveries_by_status ON deliveries (status, seq);
            CREATE TABLE delivery_attempts (
                id          bigserial PRIMARY KEY,
                delivery_id uuid NOT NULL REFERENCES deliveries (id),
                post_id     uuid NOT NULL,   -- one post can carry several deliveries (a digest)
                at          timestamptz NOT NULL,
                outcome     text NOT NULL,
                latency_ms  integer NOT NULL
            );
            CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
            -- Each robot's token bucket, shared by all replicas, keyed by a hash of the
            -- robot URL: WeCom limits the robot, however many channels name it.
            CREATE TABLE channel_buckets (
                bucket_key text PRIMARY KEY,
                tokens     double precision NOT NULL,
                updated_at timestamptz NOT NULL
            );
            """),
        Migration(104, "red warnings reach the rep and their manager", """
            INSERT INTO message_templates (event_type, locale, version, title, body, link_template) VALUES
            ('scoring.WarningRaised', 'zh-CN', 1, '红色预警：{customer_name} 连续 {weeks} 周无{component_name}',
             E'**{customer_name}**（{customer_id}）已连续 {weeks} 个完整周没有{component_name}记录，请尽快跟进。',
             'fieldwork://customers/{customer_id}');
            INSERT INTO routes (id, version, event_type, recipients, channels) VALUES
            ('warning-raised-rep-and-manager', 1, 'scoring.WarningRaised', '{"personIds": ["{rep_id}", "{manager_id}"]}', '{INBOX}');
            """),
        Migration(105, "inbox cursors from transaction ids", """
            -- Cursors follow commit order without a lock per person: a row's cursor is the
            -- id of the transaction that wrote it (one row per person per transaction), and
            -- readers see only rows older than every running transaction. Rows written
            -- before this get small numbers in their old order.
            ALTER TABLE inbox_items ADD COLUMN xid xid8;
            UPDATE inbox_items i SET xid = (r.n::text)::xid8
            FROM (SELECT cursor, row_number() OVER (PARTITION BY person_id ORDER BY cursor) AS n FROM inbox_items) r
            WHERE r.cursor = i.cursor;
            ALTER TABLE inbox_items ALTER COLUMN xid SET DEFAULT pg_current_xact_id(), ALTER COLUMN xid SET NOT NULL;
            CREATE UNIQUE INDEX inbox_items_person_xid ON inbox_items (person_id, xid);
            DROP INDEX inbox_items_person;
            """),
        Migration(106, "strategy-rule firings reach the people the rule names", """
            -- The scoring service resolves a rule's roles to people; {notify_person_ids} is that list.
            INSERT INTO message_templates (event_type, locale, version, title, body, link_template) VALUES
            ('scoring.RuleFired', 'zh-CN', 1, '策略提醒：{rule_name}', E'{message}\n\n{content_package_line}',
             'fieldwork://rule-firings/{firing_id}');
            INSERT INTO routes (id, version, event_type, recipients, channels) VALUES
            ('rule-fired-recipients', 1, 'scoring.RuleFired', '{"personIds": ["{notify_person_ids}"]}', '{INBOX}');
            """),
        Migration(107, "red warnings reach whoever the zero-streak rule names", """
            -- The rule may name the rep, the manager and further persons: the whole resolved list.
            INSERT INTO routes (id, version, event_type, recipients, channels)
            SELECT id, max(version) + 1, 'scoring.WarningRaised', '{"personIds": ["{notify_person_ids}"]}', '{INBOX}'
            FROM routes WHERE id = 'warning-raised-rep-and-manager' GROUP BY id;
            """),
        Migration(108, "inbox items keyed by their id", """
            -- The bigserial column ordered the inbox before cursors became transaction ids (105);
            -- nothing reads it now. Without it each item, on the busiest insert path, costs one
            -- sequence step and one index entry less.
            ALTER TABLE inbox_items DROP CONSTRAINT inbox_items_pkey, DROP COLUMN cursor,
                DROP CONSTRAINT inbox_items_id_key, ADD PRIMARY KEY (id);
            """),
    ]
}
