CREATE TABLE "devices" (
	"tenant_id" text NOT NULL,
	"recipient_id" text NOT NULL,
	"id" text NOT NULL,
	"provider" text NOT NULL,
	"token" text,
	"subscription" jsonb,
	"platform" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "devices_tenant_id_recipient_id_id_pk" PRIMARY KEY("tenant_id","recipient_id","id")
);
--> statement-breakpoint
CREATE TABLE "integration_sends" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"integration_id" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"done" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_tenant_id_recipient_id_recipients_tenant_id_id_fk" FOREIGN KEY ("tenant_id","recipient_id") REFERENCES "public"."recipients"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "integration_sends_window" ON "integration_sends" USING btree ("tenant_id","integration_id","at");