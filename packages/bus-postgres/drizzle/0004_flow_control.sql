CREATE TABLE "bus_events_limits" (
	"queue" text PRIMARY KEY NOT NULL,
	"concurrency" integer,
	"key_concurrency" integer,
	"rate_limit" integer,
	"rate_period_ms" integer,
	"key_rate_limit" integer,
	"key_rate_period_ms" integer,
	"fair" boolean DEFAULT false NOT NULL,
	"key_cursor" text,
	"signature" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bus_events_starts" (
	"queue" text NOT NULL,
	"partition_key" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"n" integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bus_events" ADD COLUMN "partition_key" text;--> statement-breakpoint
ALTER TABLE "bus_events_archive" ADD COLUMN "partition_key" text;--> statement-breakpoint
CREATE INDEX "bus_events_starts_queue_idx" ON "bus_events_starts" USING btree ("queue","started_at");--> statement-breakpoint
CREATE INDEX "bus_events_key_idx" ON "bus_events" USING btree ("queue","partition_key","scheduled_at","id") WHERE locked_until IS NULL AND partition_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX "bus_events_running_idx" ON "bus_events" USING btree ("queue","partition_key") WHERE locked_until IS NOT NULL;