CREATE TABLE `bus_events_pauses` (
	`queue` varbinary(600) NOT NULL,
	`handler_name` varbinary(600) NOT NULL DEFAULT '',
	`paused_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	CONSTRAINT `pauses_pk` PRIMARY KEY(`queue`,`handler_name`)
);
--> statement-breakpoint
CREATE TABLE `bus_events_workers` (
	`worker_id` varbinary(600) NOT NULL,
	`queues` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`info` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`started_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	`last_seen_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	CONSTRAINT `workers_pk` PRIMARY KEY(`worker_id`)
);
--> statement-breakpoint
ALTER TABLE `bus_events_archive` MODIFY COLUMN `status` enum('completed','failed','cancelled') NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events` ADD `snoozes` int DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `last_seen_at_idx` ON `bus_events_workers` (`last_seen_at`);--> statement-breakpoint
CREATE INDEX `status_idx` ON `bus_events_archive` (`status`);