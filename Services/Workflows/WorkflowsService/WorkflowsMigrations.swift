import FieldworkRuntime

/// The workflows service's schema: the runtime's tables, then its own.
enum WorkflowsMigrations {
    static let all: [Migration] = [
        RuntimeSchema.core,
        RuntimeSchema.outboxRows,
        RuntimeSchema.outboxDueOrder,
        RuntimeSchema.outboxParkedOrder,
        RuntimeSchema.retentionOrder,
        RuntimeSchema.storedAnswer,
        RuntimeSchema.directoryReplica,
        RuntimeSchema.directoryVersions,
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
        Migration(101, "card lifecycle, escalation, attachments, approvals", """
            -- The moment the next escalation level is due; NULL once the card is answered,
            -- closed or at the top level. The sweep reads only this partial index.
            ALTER TABLE cards ADD COLUMN next_escalation_at timestamptz;
            ALTER TABLE cards ADD COLUMN escalated_at timestamptz;
            UPDATE cards SET next_escalation_at = due_at WHERE first_response_at IS NULL AND status IN ('OPEN', 'IN_PROGRESS');
            DROP INDEX cards_awaiting_response;
            CREATE INDEX cards_escalation_due ON cards (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
            CREATE INDEX cards_escalated ON cards (number) WHERE escalation_level > 0;
            CREATE INDEX cards_first_response ON cards (created_at) INCLUDE (department, first_response_at);
            CREATE INDEX requests_completed ON requests (completed_at) WHERE completed_at IS NOT NULL;
            ALTER TABLE card_timeline ADD COLUMN changes jsonb NOT NULL DEFAULT '[]';

            CREATE TABLE attachments (
                id           uuid PRIMARY KEY,
                card_id      uuid NOT NULL REFERENCES cards (id),
                file_name    text NOT NULL,
                content_type text NOT NULL,
                size_bytes   bigint NOT NULL,
                sha256       text NOT NULL,
                uploaded_by  text NOT NULL,
                uploaded_at  timestamptz NOT NULL
            );
            CREATE INDEX attachments_card ON attachments (card_id, uploaded_at);
            -- Content in pieces of at most 1 MiB, written in the attachment row's transaction.
            CREATE TABLE attachment_chunks (
                attachment_id uuid NOT NULL REFERENCES attachments (id),
                seq           integer NOT NULL,
                data          bytea NOT NULL,
                PRIMARY KEY (attachment_id, seq)
            );

            CREATE TABLE approval_chains (
                id         text NOT NULL,
                version    integer NOT NULL,
                name       text NOT NULL,
                steps      jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (id, version)
            );
            CREATE TABLE approvals (
                id            uuid PRIMARY KEY,
                chain_id      text NOT NULL,
                chain_version integer NOT NULL,
                subject       text NOT NULL,
                amount_fen    bigint NOT NULL,
                product_line  text NOT NULL,
                customer_id   text NOT NULL,
                submitter_id  text NOT NULL,
                status        text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
                current_step  integer NOT NULL,
                created_at    timestamptz NOT NULL,
                decided_at    timestamptz
            );
            CREATE INDEX approvals_submitter ON approvals (submitter_id, created_at);
            CREATE TABLE approval_steps (
                approval_id uuid NOT NULL REFERENCES approvals (id),
                index       integer NOT NULL,
                role        text NOT NULL,
                approver_id text NOT NULL,
                status      text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
                comment     text NOT NULL DEFAULT '',
                decided_at  timestamptz,
                PRIMARY KEY (approval_id, index)
            );
            CREATE INDEX approval_steps_approver ON approval_steps (approver_id, status);

            -- The default contract chain (SPEC §3.6); amounts in fen.
            INSERT INTO approval_chains (id, version, name, steps) VALUES ('contract', 1, '合同审批', '[
              {"approver": "manager", "minAmountFen": 0, "productLines": []},
              {"approver": "director", "minAmountFen": 10000000, "productLines": []},
              {"approver": "finance", "minAmountFen": 100000000, "productLines": []},
              {"approver": "general_manager", "minAmountFen": 100000000, "productLines": []}
            ]'::jsonb);

            -- A second request type, to show templates are data (SPEC §3.2). YP = 样品 (sample).
            INSERT INTO request_templates (id, version, name, number_prefix, trigger_event_type, cards) VALUES
            ('sample-device', 1, '样机申请', 'YP', '', '[
              {"department": "marketing", "slaHours": 24,
               "title": "样机审批：{customer_name}",
               "description": "审批 {customer_name} 的样机申请：{products}。申请人：{rep_name}（{region}）。"},
              {"department": "logistics", "slaHours": 48,
               "title": "样机发货：{customer_name}",
               "description": "向 {customer_name} 发出样机：{products}，上传签收单。申请人：{rep_name}。"}
            ]'::jsonb);
            """),
    ]
}
