CREATE TABLE "bus_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "bus_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"queue" text NOT NULL,
	"event_name" text NOT NULL,
	"handler_name" text NOT NULL,
	"payload" "bytea" NOT NULL,
	"payload_json" jsonb,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_retries" integer NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"scheduled_at" timestamp with time zone DEFAULT now() NOT NULL,
	"locked_until" timestamp with time zone,
	"locked_by" text,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bus_events_archive" (
	"id" bigint PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"event_name" text NOT NULL,
	"handler_name" text NOT NULL,
	"payload" "bytea" NOT NULL,
	"payload_json" jsonb,
	"attempts" integer NOT NULL,
	"max_retries" integer NOT NULL,
	"priority" integer NOT NULL,
	"status" text NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "bus_events_claim_idx" ON "bus_events" USING btree ("queue","priority","scheduled_at","id") WHERE locked_until IS NULL;--> statement-breakpoint
CREATE INDEX "bus_events_lease_idx" ON "bus_events" USING btree ("locked_until") WHERE locked_until IS NOT NULL;--> statement-breakpoint
CREATE INDEX "bus_events_archive_finished_idx" ON "bus_events_archive" USING btree ("finished_at");