import FieldworkRuntime

/// The workflows service's schema: the runtime's tables, then its own.
enum WorkflowsMigrations {
    static let all: [Migration] = [
        RuntimeSchema.core,
        RuntimeSchema.directoryReplica,
        Migration(100, "requests and cards", """
            CREATE TABLE request_templates (
                id                 text NOT NULL,
                version            integer NOT NULL,
                name               text NOT NULL,
                number_prefix      text NOT NULL,
                trigger_event_type text NOT NULL DEFAULT '',
                cards              jsonb NOT NULL,
                active             boolean NOT NULL DEFAULT true,
                updated_at         timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (id, version)
            );
            CREATE TABLE requests (
                id               uuid PRIMARY KEY,
                template_id      text NOT NULL,
                template_version integer NOT NULL,
                origin           text NOT NULL,
                requester_id     text NOT NULL,
                customer_id      text NOT NULL,
                variables        jsonb NOT NULL,
                status           text NOT NULL CHECK (status IN ('OPEN', 'COMPLETED', 'CANCELLED')),
                created_at       timestamptz NOT NULL,
                completed_at     timestamptz
            );
            -- One request per origin (e.g. one visit's switch), whatever the delivery count.
            CREATE UNIQUE INDEX requests_origin ON requests (template_id, origin) WHERE origin <> '';
            CREATE INDEX requests_requester ON requests (requester_id, created_at);
            CREATE TABLE card_counters (
                prefix text NOT NULL,
                day    text NOT NULL,
                last   integer NOT NULL,
                PRIMARY KEY (prefix, day)
            );
            CREATE TABLE cards (
                id                uuid PRIMARY KEY,
                number            text NOT NULL UNIQUE,
                request_id        uuid NOT NULL REFERENCES requests (id),
                department        text NOT NULL,
                title             text NOT NULL,
                description       text NOT NULL,
                assignee_id       text NOT NULL DEFAULT '',
                status            text NOT NULL CHECK (status IN ('OPEN', 'IN_PROGRESS', 'DONE', 'CANCELLED')),
                sla_hours         integer NOT NULL,
                due_at            timestamptz NOT NULL,
                created_at        timestamptz NOT NULL,
                first_response_at timestamptz,
                escalation_level  integer NOT NULL DEFAULT 0,
                updated_at        timestamptz NOT NULL
            );
            CREATE INDEX cards_request ON cards (request_id);
            CREATE INDEX cards_department ON cards (department, created_at);
            CREATE INDEX cards_awaiting_response ON cards (due_at)
                WHERE first_response_at IS NULL AND status IN ('OPEN', 'IN_PROGRESS');
            CREATE TABLE card_timeline (
                seq      bigserial PRIMARY KEY,
                card_id  uuid NOT NULL REFERENCES cards (id),
                at       timestamptz NOT NULL,
                actor_id text NOT NULL,
                kind     text NOT NULL,
                text     text NOT NULL
            );
            CREATE INDEX card_timeline_card ON card_timeline (card_id, seq);

            -- The default request type, as data (SPEC §3.2). GT = 跟台 (surgery support).
            INSERT INTO request_templates (id, version, name, number_prefix, trigger_event_type, cards) VALUES
            ('surgery-support', 1, '手术跟台支持', 'GT', 'visits.SupportRequested', '[
              {"department": "marketing", "slaHours": 24,
               "title": "跟台资料准备：{customer_name} {surgery_date}",
               "description": "为 {customer_name}（{department}）{surgery_date} 的手术准备产品资料：{products}。申请人：{rep_name}。"},
              {"department": "logistics", "slaHours": 24,
               "title": "器械包预留：{customer_name} {surgery_date}",
               "description": "为 {customer_name}（{department}）{surgery_date} 的手术预留器械包：{products}，备好后上传器械包照片。申请人：{rep_name}。"},
              {"department": "compliance", "slaHours": 24,
               "title": "授权文件审核：{customer_name} {surgery_date}",
               "description": "审核 {customer_name} {surgery_date} 跟台所需的授权文件（产品：{products}）。申请人：{rep_name}。"}
            ]'::jsonb);
            """),
    ]
}
