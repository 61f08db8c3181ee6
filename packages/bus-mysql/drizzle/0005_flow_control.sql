CREATE TABLE `bus_events_limits` (
	`queue` varbinary(600) NOT NULL,
	`concurrency` int,
	`key_concurrency` int,
	`rate_limit` int,
	`rate_period_ms` int,
	`key_rate_limit` int,
	`key_rate_period_ms` int,
	`fair` boolean NOT NULL DEFAULT false,
	`key_cursor` varbinary(765),
	`signature` varbinary(600),
	`updated_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	CONSTRAINT `limits_pk` PRIMARY KEY(`queue`)
);
--> statement-breakpoint
CREATE TABLE `bus_events_starts` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`queue` varbinary(600) NOT NULL,
	`partition_key` varbinary(765),
	`started_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	`n` int NOT NULL,
	CONSTRAINT `bus_events_starts_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `bus_events` ADD `partition_key` varbinary(765);--> statement-breakpoint
ALTER TABLE `bus_events_archive` ADD `partition_key` varbinary(765);--> statement-breakpoint
CREATE INDEX `queue_started_idx` ON `bus_events_starts` (`queue`,`started_at`);--> statement-breakpoint
CREATE INDEX `key_idx` ON `bus_events` (`queue`,`partition_key`,`locked_until`,`scheduled_at`,`id`);