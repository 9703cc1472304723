ALTER TABLE "recipients" ADD COLUMN "whatsapp" text;--> statement-breakpoint
ALTER TABLE "recipients" ADD COLUMN "telegram_chat_id" text;