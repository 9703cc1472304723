CREATE TABLE "erasures" (
	"tenant_id" text NOT NULL,
	"recipient_id" text NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "erasures_tenant_id_recipient_id_requested_at_pk" PRIMARY KEY("tenant_id","recipient_id","requested_at")
);
--> statement-breakpoint
CREATE TABLE "lifecycle_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"recipient_id" text,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recipient_token_keys" (
	"tenant_id" text NOT NULL,
	"kid" text NOT NULL,
	"secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "recipient_token_keys_tenant_id_kid_pk" PRIMARY KEY("tenant_id","kid")
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"tenant_id" text NOT NULL,
	"channel" text NOT NULL,
	"address_hash" text NOT NULL,
	"address" text,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "suppressions_tenant_id_channel_address_hash_pk" PRIMARY KEY("tenant_id","channel","address_hash")
);
--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD COLUMN "archived" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD COLUMN "url" text;--> statement-breakpoint
ALTER TABLE "lifecycle_events" ADD CONSTRAINT "lifecycle_events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recipient_token_keys" ADD CONSTRAINT "recipient_token_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "lifecycle_events_tenant" ON "lifecycle_events" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "lifecycle_events_created" ON "lifecycle_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "suppressions_listing" ON "suppressions" USING btree ("tenant_id","channel","created_at");