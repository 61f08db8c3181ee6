ALTER TABLE `bus_events` MODIFY COLUMN `queue` varbinary(600) NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events` MODIFY COLUMN `event_name` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events` MODIFY COLUMN `handler_name` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events_archive` MODIFY COLUMN `queue` varbinary(600) NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events_archive` MODIFY COLUMN `event_name` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;--> statement-breakpoint
ALTER TABLE `bus_events_archive` MODIFY COLUMN `handler_name` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;