CREATE TABLE "bus_events_pauses" (
	"queue" text NOT NULL,
	"handler_name" text NOT NULL,
	"paused_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bus_events_pauses_pkey" PRIMARY KEY("queue","handler_name")
);
--> statement-breakpoint
CREATE TABLE "bus_events_workers" (
	"worker_id" text PRIMARY KEY NOT NULL,
	"queues" text NOT NULL,
	"info" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bus_events" ADD COLUMN "snoozes" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "bus_events_workers_last_seen_idx" ON "bus_events_workers" USING btree ("last_seen_at");--> statement-breakpoint
CREATE INDEX "bus_events_archive_failed_idx" ON "bus_events_archive" USING btree ("id") WHERE status <> 'completed';--> statement-breakpoint
CREATE INDEX "bus_events_archive_failed_queue_idx" ON "bus_events_archive" USING btree ("queue","id") WHERE status <> 'completed';